// A pipeline's outputs read through `dv serve` by rclone, which compares each object's
// ETag with the MD5 of its bytes: outputs of every size class (one chunk below 64 KiB,
// whose MD5 is computed on first need; one chunk from 64 KiB, hashed on the MD5 thread
// while the run goes on; several chunks) must carry their own MD5, not another datum's.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { dvJson, dvOk, TempDirs, writeFile, writeRandomFile } from '../helpers/cli.js';
import { findTool, rcloneEnv, startServe, stopServe, type Key, type Served } from '../helpers/serve.js';

const run = promisify(execFile);
const RCLONE = findTool('rclone');
const tmp = new TempDirs();
let s: Served | undefined;
afterAll(async () => {
  if (s) await stopServe(s);
  tmp.cleanup();
});

describe('pipeline outputs through dv serve', () => {
  it('have ETags that are the MD5s of their own bytes (rclone check)', async () => {
    const proj = path.join(tmp.make('dv-run-etags-'), 'weather');
    // Outputs (each input twice) of 20 KiB, 80-140 KiB (one chunk each) and 400 KiB.
    const sizes = [10, 40, 50, 60, 70, 200];
    sizes.forEach((k, i) => writeRandomFile(proj, `data/raw/${i}.bin`, k * 1024 + i, `in${i}`));
    writeFile(proj, 'dv.yaml', 'stages:\n  twice:\n    foreach: data/raw/*.bin\n    cmd: cat ${in} ${in} > ${out}\n    outs: data/out/\n');
    await dvOk(proj, ['init', '-q']);
    await dvOk(proj, ['add', 'data/raw', '-q']);
    await dvOk(proj, ['run', '-q']);
    const key = await dvJson<Key>(proj, ['keys', 'create', '--read', '*', '--json']);
    s = await startServe(proj, []);
    const home = tmp.make('dv-run-etags-home-');
    const env = rcloneEnv(home, key, s.url);
    const listed = (await run(RCLONE, ['md5sum', 'dv:weather/main/data/out'], { env })).stdout.trim().split('\n').sort();
    const local = fs.readdirSync(path.join(proj, 'data/out'))
      .map((f) => `${createHash('md5').update(fs.readFileSync(path.join(proj, 'data/out', f))).digest('hex')}  ${f}`).sort();
    expect(listed).toEqual(local);
    await run(RCLONE, ['check', '--one-way', path.join(proj, 'data/out'), 'dv:weather/main/data/out'], { env });
  });
});

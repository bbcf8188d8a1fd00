// A pipeline's outputs read through `dv serve` by rclone, which compares each object's
// ETag with the MD5 of its bytes: outputs of every size class (one chunk below 64 KiB,
// whose MD5 is computed on first need; one chunk from 64 KiB, hashed on the MD5 thread
// while the run goes on; several chunks) must carry their own MD5, not another datum's.
// Likewise files added with `dv add` that the MD5 thread hashes 16 at a time side by
// side (src/repo/md5-worker.ts): each object's ETag is its own file's MD5.
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
const served: Served[] = [];
afterAll(async () => {
  for (const s of served) await stopServe(s);
  tmp.cleanup();
});

/** `rclone md5sum` of DIR through dv serve against md5sum of the same files in the project. */
async function md5sThroughServe(proj: string, dir: string): Promise<{ listed: string[]; local: string[]; env: NodeJS.ProcessEnv }> {
  const key = await dvJson<Key>(proj, ['keys', 'create', '--read', '*', '--json']);
  const s = await startServe(proj, []);
  served.push(s);
  const env = rcloneEnv(tmp.make('dv-run-etags-home-'), key, s.url);
  const listed = (await run(RCLONE, ['md5sum', `dv:weather/main/${dir}`], { env })).stdout.trim().split('\n').sort();
  const local = fs.readdirSync(path.join(proj, dir))
    .map((f) => `${createHash('md5').update(fs.readFileSync(path.join(proj, dir, f))).digest('hex')}  ${f}`).sort();
  return { listed, local, env };
}

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
    const { listed, local, env } = await md5sThroughServe(proj, 'data/out');
    expect(listed).toEqual(local);
    await run(RCLONE, ['check', '--one-way', path.join(proj, 'data/out'), 'dv:weather/main/data/out'], { env });
  });

  it('have ETags that are the MD5s of their own bytes after a dv add hashed them side by side', async () => {
    const proj = path.join(tmp.make('dv-add-etags-'), 'weather');
    // 40 one-chunk files from 64 KiB: two full groups of 16 and a part group at the end.
    for (let i = 0; i < 40; i++) writeRandomFile(proj, `data/m${String(i).padStart(2, '0')}.bin`, 70_000 + i * 5003, `m${i}`);
    await dvOk(proj, ['init', '-q']);
    await dvOk(proj, ['add', 'data', '-q']);
    const { listed, local, env } = await md5sThroughServe(proj, 'data');
    expect(listed).toHaveLength(40);
    expect(listed).toEqual(local);
    await run(RCLONE, ['check', path.join(proj, 'data'), 'dv:weather/main/data'], { env });
  });
});

// The run-cache travels with the data: a clone that pulls a pushed repository gets the
// outputs of work done elsewhere from the run-cache instead of running the commands.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3TestServer } from '../helpers/s3server.js';
import { dvEnv, dvJson, dvOk, initWithRemote, removeTempDirs, tempDir, writeFile, type Env } from './helpers.js';

let s3: S3TestServer;
let env: Env;

beforeAll(async () => {
  s3 = await startS3Server();
  env = dvEnv(s3, { DV_REMOTE_SETTLE_MS: '20' });
});
afterAll(async () => {
  await s3?.stop();
  removeTempDirs();
});

describe('shared run-cache', () => {
  it('a fresh clone restores pushed outputs from the run-cache without running anything', async () => {
    const log = path.join(tempDir('dv-runlog-'), 'ran.log');
    const a = await initWithRemote(s3, env, 'runcache');
    for (let i = 1; i <= 3; i++) writeFile(path.join(a, `data/raw/${i}.txt`), `value ${i}\n`);
    const yaml = `stages:\n  upper:\n    foreach: data/raw/*.txt\n    cmd: echo "$DV_DATUM" >> ${log}; tr a-z A-Z < \${in} > \${out}\n    outs: data/up/\n`;
    fs.writeFileSync(path.join(a, 'dv.yaml'), yaml);
    await dvOk(a, ['add', 'data/raw'], env);
    await dvOk(a, ['run'], env);
    expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(3);
    await dvOk(a, ['push'], env);

    const b = path.join(tempDir(), 'clone');
    await dvOk(path.dirname(b), ['clone', `s3://${s3.bucket}/runcache`, b, '--endpoint', s3.endpoint], env);
    fs.writeFileSync(path.join(b, 'dv.yaml'), yaml);
    fs.rmSync(path.join(b, 'data/up'), { recursive: true });
    const r = await dvJson<{ status: string; record: { stages: { counts: { run: number; cached: number } }[] } }>(b, ['run', '--json'], env);
    expect(r.status).toBe('succeeded');
    expect(r.record.stages[0].counts).toMatchObject({ run: 0, cached: 3 });
    expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(3); // nothing ran in the clone
    expect(fs.readFileSync(path.join(b, 'data/up/2.txt'), 'utf8')).toBe('VALUE 2\n');
  });
});

// Only missing data moves, and small files travel packed: measured at the server.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3TestServer } from '../helpers/s3server.js';
import { bucket, dvEnv, dvJson, dvOk, listAll, randomData, removeTempDirs, tempDir, writeFile, type Env, initWithRemote } from './helpers.js';

let s3: S3TestServer;
let env: Env;

beforeAll(async () => {
  s3 = await startS3Server();
  env = dvEnv(s3);
});
afterAll(async () => {
  await s3?.stop();
  removeTempDirs();
});

const newRepo = (prefix: string): Promise<string> => initWithRemote(s3, env, prefix);

describe('transfer efficiency', () => {
  it('uploads under 1% of a 32 MiB file after a one-byte insert at its start', async () => {
    const size = 32 << 20;
    const dir = await newRepo('onebyte');
    const original = randomData(size, 'one-byte');
    writeFile(path.join(dir, 'data/big.bin'), original);
    await dvOk(dir, ['add', 'data'], env);
    await dvOk(dir, ['push'], env);
    const remote = bucket(s3, 'onebyte');
    const before = await listAll(remote);

    writeFile(path.join(dir, 'data/big.bin'), Buffer.concat([Buffer.from('X'), original]));
    await dvOk(dir, ['commit', '-m', 'insert one byte'], env);
    s3.requests.reset();
    const r = await dvJson(dir, ['push'], env);
    const after = await listAll(remote);
    remote.close();

    // Everything that changed on the server: new objects, and rewritten ones (the ref).
    let changedBytes = 0;
    for (const [key, n] of after) if (before.get(key) !== n || key.startsWith('refs/')) changedBytes += n;
    expect(r.packsUploaded).toBe(1);
    expect(r.bytesUploaded).toBeLessThan(size / 100);
    expect(changedBytes).toBeLessThan(size / 100);
    const newPacks = [...after.keys()].filter((k) => k.startsWith('packs/') && !before.has(k));
    expect(newPacks).toHaveLength(1);
  });

  it('pushes 10,000 files of 10 KiB with at most 100 PUT requests', async () => {
    const dir = await newRepo('many');
    for (let d = 0; d < 10; d++) {
      for (let i = 0; i < 1000; i++) {
        const n = d * 1000 + i;
        writeFile(path.join(dir, `data/d${d}/f${n}.bin`), randomData(10240, `f${n}`));
      }
    }
    await dvOk(dir, ['add', 'data', '-q'], env);
    s3.requests.reset();
    const r = await dvJson(dir, ['push'], env);
    const puts = s3.requests.count('PUT');
    expect(r.refs[0].status).toBe('created');
    expect(puts).toBeLessThanOrEqual(100);
    expect(puts).toBeGreaterThanOrEqual(r.packsUploaded + 1);

    // And the other way: a clone downloads packs, not files.
    s3.requests.reset();
    const parent = tempDir();
    await dvOk(parent, ['clone', `s3://${s3.bucket}/many`, 'c', '--endpoint', s3.endpoint, '-q'], env);
    expect(s3.requests.count('GET')).toBeLessThanOrEqual(100);
    expect(fs.readdirSync(path.join(parent, 'c/data/d3'))).toHaveLength(1000);
  });
});

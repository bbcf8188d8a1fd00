// End to end through the CLI: push from one clone, clone into a second directory,
// commit there, push, pull back into the first; nothing moves twice.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3TestServer } from '../helpers/s3server.js';
import { dv, dvEnv, dvJson, dvOk, errorLine, randomData, removeTempDirs, tempDir, writeFile, type Env, initWithRemote } from './helpers.js';

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

describe('push, clone, pull', () => {
  it('round-trips history and data between two clones', async () => {
    const a = await newRepo('round');
    writeFile(path.join(a, 'data/small.csv'), 'id,value\n1,2\n');
    writeFile(path.join(a, 'data/blob.bin'), randomData(3 << 20, 'blob'));
    await dvOk(a, ['add', 'data', '-m', 'first'], env);
    writeFile(path.join(a, 'data/second.txt'), 'two\n');
    await dvOk(a, ['commit', '-m', 'second'], env);

    const pushed = await dvJson(a, ['push'], env);
    expect(pushed.refs).toEqual([expect.objectContaining({ ref: 'heads/main', status: 'created' })]);
    expect(pushed.packsUploaded).toBeGreaterThan(0);

    // Nothing new: no uploads at all.
    s3.requests.reset();
    const again = await dvJson(a, ['push'], env);
    expect(again.refs[0].status).toBe('up-to-date');
    expect(s3.requests.count('PUT')).toBe(0);

    const parent = tempDir();
    const cloned = await dvJson(parent, ['clone', `s3://${s3.bucket}/round`, 'b', '--endpoint', s3.endpoint], env);
    const b = path.join(parent, 'b');
    expect(cloned.branch).toBe('main');
    expect(fs.readFileSync(path.join(b, 'data/small.csv'), 'utf8')).toBe('id,value\n1,2\n');
    expect(fs.readFileSync(path.join(b, 'data/blob.bin')).equals(randomData(3 << 20, 'blob'))).toBe(true);
    const logB = await dvJson(b, ['log'], env);
    expect(logB.map((e: { message: string }) => e.message)).toEqual(['second', 'first']);
    expect((await dvJson(b, ['remote', 'list'], env))[0]).toMatchObject({ name: 'origin', endpoint: s3.endpoint, default: true });

    // The clone commits and pushes; the first repository pulls it back.
    await dvOk(b, ['checkout', 'HEAD~1'], env); // older versions are readable in the clone
    expect(fs.existsSync(path.join(b, 'data/second.txt'))).toBe(false);
    await dvOk(b, ['checkout', 'main'], env);
    writeFile(path.join(b, 'data/third.txt'), 'three\n');
    fs.rmSync(path.join(b, 'data/small.csv'));
    const third = (await dvOk(b, ['commit', '-m', 'third'], env)).trim();
    expect((await dvJson(b, ['status', '--remote'], env)).remote).toMatchObject({ ahead: 1, behind: 0 });
    await dvOk(b, ['push'], env);
    expect((await dvJson(b, ['status', '--remote'], env)).remote).toMatchObject({ ahead: 0, behind: 0, tracking: 'origin/main' });

    await dvOk(a, ['fetch'], env);
    const st = await dvJson(a, ['status', '--remote'], env);
    expect(st.remote).toMatchObject({ ahead: 0, behind: 1 });
    expect((await dv(a, ['status', '--remote'], env)).stdout).toContain("behind 'origin/main' by 1 commit");
    const pulled = await dvJson(a, ['pull'], env);
    expect(pulled).toMatchObject({ status: 'fast-forward', new: third });
    expect(fs.readFileSync(path.join(a, 'data/third.txt'), 'utf8')).toBe('three\n');
    expect(fs.existsSync(path.join(a, 'data/small.csv'))).toBe(false);
    expect((await dvJson(a, ['status'], env))).toMatchObject({ added: [], modified: [], deleted: [] });
    expect((await dvJson(a, ['pull'], env)).status).toBe('up-to-date');
    await dvOk(a, ['fsck'], env);
    await dvOk(b, ['fsck'], env);
  });

  it('pull refuses to overwrite uncommitted work and leaves the branch where it was', async () => {
    const a = await newRepo('guard');
    writeFile(path.join(a, 'data/f.txt'), 'v1\n');
    await dvOk(a, ['add', 'data'], env);
    await dvOk(a, ['push'], env);
    const parent = tempDir();
    await dvOk(parent, ['clone', `s3://${s3.bucket}/guard`, 'b', '--endpoint', s3.endpoint], env);
    const b = path.join(parent, 'b');
    writeFile(path.join(b, 'data/f.txt'), 'v2\n');
    await dvOk(b, ['commit'], env);
    await dvOk(b, ['push'], env);

    const before = (await dvJson(a, ['log'], env))[0].id;
    writeFile(path.join(a, 'data/f.txt'), 'local edit\n');
    expect(errorLine(await dv(a, ['pull'], env))).toMatch(/uncommitted changes in data\/f\.txt/);
    expect((await dvJson(a, ['log'], env))[0].id).toBe(before);
    expect(fs.readFileSync(path.join(a, 'data/f.txt'), 'utf8')).toBe('local edit\n');
  });

  it('pushes tags and other branches, and fetch brings them', async () => {
    const a = await newRepo('tags');
    writeFile(path.join(a, 'data/a'), 'a');
    await dvOk(a, ['add', 'data'], env);
    await dvOk(a, ['tag', 'v1'], env);
    await dvOk(a, ['branch', 'dev'], env);
    const r = await dvJson(a, ['push', 'origin', '--all', '--tags'], env);
    expect(r.refs.map((x: { ref: string }) => x.ref).sort()).toEqual(['heads/dev', 'heads/main', 'tags/v1']);

    const c = tempDir();
    await dvOk(c, ['init'], env);
    await dvOk(c, ['remote', 'add', 'up', `s3://${s3.bucket}/tags`, '--endpoint', s3.endpoint], env);
    const f = await dvJson(c, ['fetch'], env);
    expect(f.refs.map((x: { ref: string; status: string }) => `${x.ref}:${x.status}`).sort())
      .toEqual(['remotes/up/dev:new', 'remotes/up/main:new', 'tags/v1:new']);
    // A fresh repository pulls into its empty main.
    await dvOk(c, ['pull', 'up'], env);
    expect(fs.readFileSync(path.join(c, 'data/a'), 'utf8')).toBe('a');
    expect((await dvJson(c, ['tag'], env))[0]).toMatchObject({ name: 'v1' });
  });

  it('manages remote configuration', async () => {
    const d = tempDir();
    await dvOk(d, ['init'], env);
    await dvOk(d, ['remote', 'add', 'one', 's3://bucket-one/p/', '--endpoint', 'http://127.0.0.1:1/'], env);
    await dvOk(d, ['remote', 'add', 'two', 's3://bucket-two'], env);
    let list = await dvJson(d, ['remote', 'list'], env);
    expect(list).toEqual([
      { name: 'one', url: 's3://bucket-one/p', endpoint: 'http://127.0.0.1:1', default: true },
      { name: 'two', url: 's3://bucket-two', default: false },
    ]);
    expect(JSON.parse(fs.readFileSync(path.join(d, '.dv/config.json'), 'utf8')).remotes.one.url).toBe('s3://bucket-one/p');
    expect(errorLine(await dv(d, ['remote', 'add', 'one', 's3://x'], env))).toMatch(/already exists/);
    expect((await dv(d, ['remote', 'add', 'bad', 'http://x'], env)).stderr).toMatch(/^dv: error: not an S3 URL/);
    await dvOk(d, ['remote', 'remove', 'one'], env);
    list = await dvJson(d, ['remote', 'list'], env);
    expect(list).toEqual([{ name: 'two', url: 's3://bucket-two', default: true }]);
    expect(errorLine(await dv(d, ['push', 'nope'], env))).toMatch(/no remote named 'nope'/);
  });
});

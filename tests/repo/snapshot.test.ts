// add / commit / status / diff / log / ls / cat / branch / tag through the library,
// on real repositories; chunk dedup checked in SQLite; the stat cache checked by
// changing content behind its back.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Repo } from '../../src/repo/repo.js';
import { add, commit } from '../../src/repo/snapshot.js';
import { diff, status } from '../../src/repo/status.js';
import { createBranch, createTag, deleteBranch, deleteTag, listBranches, listTags, log } from '../../src/repo/history.js';
import { cat, ls } from '../../src/repo/read.js';
import type { FileEntry } from '../../src/repo/types.js';
import { DvError } from '../../src/store/errors.js';
import { blake3Hex } from '../../src/store/hash.js';
import { ageFiles, randomBytes, setMtime, TEST_AUTHOR, writeFile, writeRandomFile } from '../helpers/cli.js';
import { countBlobs, readAll, RepoFixtures } from '../helpers/repo.js';

const fx = new RepoFixtures();
afterEach(() => fx.closeAll());

async function fileEntry(repo: Repo, ref: string, p: string): Promise<FileEntry> {
  const e = await repo.lookup(await repo.resolve(ref), p);
  if (!e || e.type !== 'file') throw new Error(`${p} is not a file in ${ref}`);
  return e;
}

const HEX64 = /^[0-9a-f]{64}$/;

describe('add, commit, status, diff, log', () => {
  let root: string;
  let repo: Repo;
  beforeEach(async () => {
    ({ root, repo } = await fx.create());
    writeFile(root, 'data/a.csv', 'id,value\n1,10\n');
    writeFile(root, 'data/sub/b.csv', 'id,value\n2,20\n');
    writeRandomFile(root, 'data/big.bin', 1 << 20, 'big');
    writeFile(root, 'data/empty.txt', '');
  });

  it('add records a commit of every file with per-file checksums and chunk lists', async () => {
    const r = await add(repo, ['data'], { message: 'raw drop 1' });
    expect(r.commit).toMatch(HEX64);
    expect(r.changes.map((c) => [c.path, c.status])).toEqual([
      ['data/a.csv', 'added'], ['data/big.bin', 'added'], ['data/empty.txt', 'added'], ['data/sub/b.csv', 'added'],
    ]);
    expect(repo.head()).toEqual({ branch: 'main', commit: r.commit });
    const c = await repo.readCommit(r.commit!);
    expect(c).toMatchObject({ parents: [], paths: ['data'], message: 'raw drop 1', author: TEST_AUTHOR, git: null, run: null });
    expect(new Date(c.time).toISOString()).toBe(c.time);

    const big = await fileEntry(repo, 'HEAD', 'data/big.bin');
    const bigBytes = fs.readFileSync(path.join(root, 'data/big.bin'));
    expect(big.size).toBe(1 << 20);
    expect(big.hash).toBe(blake3Hex(bigBytes));
    expect(big.mode).toBe(0o644);
    // 1 MiB of random bytes with avg 64 KiB / max 256 KiB chunks: several chunks that tile the file.
    expect(big.chunks.length).toBeGreaterThanOrEqual(4);
    let off = 0;
    for (const [id, len] of big.chunks) {
      expect(id).toBe(blake3Hex(bigBytes.subarray(off, off + len)));
      off += len;
    }
    expect(off).toBe(big.size);

    const empty = await fileEntry(repo, 'HEAD', 'data/empty.txt');
    expect(empty).toMatchObject({ size: 0, hash: blake3Hex(Buffer.alloc(0)), chunks: [] });
    const small = await fileEntry(repo, 'HEAD', 'data/sub/b.csv');
    expect(small.hash).toBe(blake3Hex('id,value\n2,20\n'));

    const s = await status(repo);
    expect(s).toMatchObject({ branch: 'main', commit: r.commit, tracked: ['data'], added: [], modified: [], deleted: [] });
  });

  it('status and diff list exactly the changed files; commit records them; a no-op commit changes nothing', async () => {
    const c1 = (await add(repo, ['data'], { message: 'one' })).commit!;
    writeFile(root, 'data/a.csv', 'id,value\n1,11\n');
    fs.rmSync(path.join(root, 'data/sub/b.csv'));
    writeFile(root, 'data/c.csv', 'id,value\n3,30\n');
    writeFile(root, 'notes.txt', 'outside the tracked paths');

    const s = await status(repo);
    expect({ added: s.added, modified: s.modified, deleted: s.deleted })
      .toEqual({ added: ['data/c.csv'], modified: ['data/a.csv'], deleted: ['data/sub/b.csv'] });
    const wsDiff = await diff(repo);
    expect(wsDiff.map((c) => [c.path, c.status])).toEqual([
      ['data/a.csv', 'modified'], ['data/c.csv', 'added'], ['data/sub/b.csv', 'deleted'],
    ]);
    // status restricted to a path
    const sub = await status(repo, ['data/sub']);
    expect({ added: sub.added, modified: sub.modified, deleted: sub.deleted }).toEqual({ added: [], modified: [], deleted: ['data/sub/b.csv'] });

    const r2 = await commit(repo, { message: 'two' });
    expect(r2.commit).toMatch(HEX64);
    const c2 = r2.commit!;
    expect((await repo.readCommit(c2)).parents).toEqual([c1]);
    expect(await status(repo)).toMatchObject({ added: [], modified: [], deleted: [] });

    const noop = await commit(repo, { message: 'three' });
    expect(noop.commit).toBeNull();
    expect(repo.headCommit()).toBe(c2);

    const d = await diff(repo, 'HEAD~1', 'HEAD');
    expect(d.map((c) => [c.path, c.status])).toEqual([
      ['data/a.csv', 'modified'], ['data/c.csv', 'added'], ['data/sub/b.csv', 'deleted'],
    ]);
    expect(d[0].old!.hash).toBe(blake3Hex('id,value\n1,10\n'));
    expect(d[0].new!.hash).toBe(blake3Hex('id,value\n1,11\n'));
    const back = await diff(repo, 'HEAD', 'HEAD~1');
    expect(back.map((c) => [c.path, c.status])).toEqual([
      ['data/a.csv', 'modified'], ['data/c.csv', 'deleted'], ['data/sub/b.csv', 'added'],
    ]);
    expect(await diff(repo, 'HEAD', 'HEAD')).toEqual([]);
    // ref vs workspace
    expect((await diff(repo, 'HEAD~1')).map((c) => c.path)).toEqual(['data/a.csv', 'data/c.csv', 'data/sub/b.csv']);

    const entries = await log(repo);
    expect(entries.map((e) => e.id)).toEqual([c2, c1]);
    expect(entries[0]).toMatchObject({ message: 'two', parents: [c1], author: TEST_AUTHOR, counts: { added: 1, modified: 1, deleted: 1 } });
    expect(entries[1]).toMatchObject({ message: 'one', parents: [], counts: { added: 4, modified: 0, deleted: 0 } });
    expect((await log(repo, { limit: 1 })).map((e) => e.id)).toEqual([c2]);
    expect((await log(repo, { ref: c1 })).map((e) => e.id)).toEqual([c1]);
  });

  it('the executable bit is part of a version: a chmod alone is a modification', async () => {
    writeFile(root, 'data/run.sh', '#!/bin/sh\necho hi\n', 0o755);
    await add(repo, ['data']);
    expect((await fileEntry(repo, 'HEAD', 'data/run.sh')).mode).toBe(0o755);
    fs.chmodSync(path.join(root, 'data/run.sh'), 0o644);
    expect((await status(repo)).modified).toEqual(['data/run.sh']);
    await commit(repo);
    expect((await fileEntry(repo, 'HEAD', 'data/run.sh')).mode).toBe(0o644);
    expect((await fileEntry(repo, 'HEAD~1', 'data/run.sh')).mode).toBe(0o755);
  });

  it('add of a second path keeps the first tracked; a missing path is refused and records nothing', async () => {
    const c1 = (await add(repo, ['data'])).commit!;
    await expect(add(repo, ['nope'])).rejects.toThrow(/path 'nope' does not exist/);
    expect(repo.headCommit()).toBe(c1);
    writeFile(root, 'models/m.bin', 'weights');
    const c2 = (await add(repo, ['models'])).commit!;
    expect((await repo.readCommit(c2)).paths).toEqual(['data', 'models']);
    expect((await diff(repo, c1, c2)).map((c) => [c.path, c.status])).toEqual([['models/m.bin', 'added']]);
    // Adding an already tracked, unchanged path is a no-op.
    expect((await add(repo, ['data'])).commit).toBeNull();
    expect(repo.headCommit()).toBe(c2);
  });

  it('ls and cat read any version without checking it out', async () => {
    const c1 = (await add(repo, ['data'])).commit!;
    writeFile(root, 'data/a.csv', 'changed\n');
    await commit(repo);

    const items = await ls(repo, 'HEAD:data/');
    expect(items.map((i) => [i.path, i.type])).toEqual([
      ['data/a.csv', 'file'], ['data/big.bin', 'file'], ['data/empty.txt', 'file'], ['data/sub', 'dir'],
    ]);
    expect(items[0]).toMatchObject({ size: 8, mode: 0o644, hash: blake3Hex('changed\n') });
    expect((await ls(repo, 'HEAD:data', { recursive: true })).map((i) => i.path))
      .toEqual(['data/a.csv', 'data/big.bin', 'data/empty.txt', 'data/sub/b.csv']);
    expect((await ls(repo, `${c1}:data/a.csv`)).map((i) => [i.path, i.size])).toEqual([['data/a.csv', 14]]);
    expect((await ls(repo, 'HEAD')).map((i) => i.path)).toEqual(['data']);
    await expect(ls(repo, 'HEAD:data/missing')).rejects.toThrow(/does not exist/);

    expect((await readAll(await cat(repo, 'HEAD~1:data/a.csv'))).toString()).toBe('id,value\n1,10\n');
    expect((await readAll(await cat(repo, 'HEAD:data/a.csv'))).toString()).toBe('changed\n');
    expect((await readAll(await cat(repo, 'HEAD:data/big.bin'))).equals(fs.readFileSync(path.join(root, 'data/big.bin')))).toBe(true);
    expect((await readAll(await cat(repo, 'HEAD:data/empty.txt'))).length).toBe(0);
    await expect(cat(repo, 'HEAD:data/sub')).rejects.toThrow(/directory/);
    await expect(cat(repo, 'HEAD:data/nope.csv')).rejects.toThrow(/does not exist/);
    await expect(cat(repo, 'HEAD')).rejects.toBeInstanceOf(DvError);

    // Ranged reads through the library (what the S3 proxy uses).
    const big = await fileEntry(repo, 'HEAD', 'data/big.bin');
    const bytes = fs.readFileSync(path.join(root, 'data/big.bin'));
    const part = await readAll(repo.openFile(big, 100_000, 400_000));
    expect(part.equals(bytes.subarray(100_000, 400_000))).toBe(true);
  });

  it('branches and tags', async () => {
    const c1 = (await add(repo, ['data'])).commit!;
    writeFile(root, 'data/a.csv', 'v2\n');
    const c2 = (await commit(repo)).commit!;

    expect(await createBranch(repo, 'staging')).toMatchObject({ name: 'staging', commit: c2 });
    expect(await createBranch(repo, 'old', 'HEAD~1')).toMatchObject({ name: 'old', commit: c1 });
    expect(listBranches(repo)).toEqual([
      { name: 'main', commit: c2, current: true },
      { name: 'old', commit: c1, current: false },
      { name: 'staging', commit: c2, current: false },
    ]);
    await expect(createBranch(repo, 'staging')).rejects.toThrow(/already exists/);
    for (const bad of ['a..b', '-x', 'has space', 'HEAD', 'x.lock', 'a//b', '/abs', 'ends/']) {
      const e = await createBranch(repo, bad).catch((x: unknown) => x);
      expect(e, bad).toBeInstanceOf(DvError);
      expect((e as DvError).exitCode, bad).toBe(2);
    }
    await expect(createBranch(repo, 'x', 'nope')).rejects.toThrow(/unknown ref 'nope'/);
    expect(listBranches(repo).map((b) => b.name)).toEqual(['main', 'old', 'staging']);

    expect(await createTag(repo, 'v1', 'HEAD~1')).toMatchObject({ name: 'v1', commit: c1 });
    expect(await createTag(repo, 'v2')).toMatchObject({ name: 'v2', commit: c2 });
    expect(listTags(repo)).toEqual([{ name: 'v1', commit: c1 }, { name: 'v2', commit: c2 }]);
    expect(await repo.resolve('v1')).toBe(c1);
    expect(await repo.resolve('staging')).toBe(c2);
    await expect(createTag(repo, 'v1')).rejects.toThrow(/already exists/);
    expect(await createTag(repo, 'v1', 'HEAD', true)).toMatchObject({ commit: c2 });
    await deleteTag(repo, 'v1');
    await expect(deleteTag(repo, 'v1')).rejects.toThrow(/not found/);
    expect(listTags(repo).map((t) => t.name)).toEqual(['v2']);

    await expect(deleteBranch(repo, 'main')).rejects.toThrow(/checked-out/);
    await deleteBranch(repo, 'old');
    await expect(deleteBranch(repo, 'old')).rejects.toThrow(/not found/);
    expect(listBranches(repo).map((b) => b.name)).toEqual(['main', 'staging']);
  });

  it('metadata written by one Repo handle is seen by another (SQLite, not memory)', async () => {
    const c1 = (await add(repo, ['data'])).commit!;
    await createTag(repo, 'v1');
    const other = fx.reopen(path.join(root, 'data', 'sub')); // opens by searching upward
    expect(other.root).toBe(root);
    expect(other.head()).toEqual({ branch: 'main', commit: c1 });
    expect(await other.resolve('v1')).toBe(c1);
    expect(await status(other)).toMatchObject({ added: [], modified: [], deleted: [] });
  });
});

describe('deduplication', () => {
  it('identical content in two files and in two versions is stored once', async () => {
    const { root, repo } = await fx.create();
    const content = randomBytes(3 << 20, 'dedup');
    writeFile(root, 'data/one.bin', content);
    writeFile(root, 'data/two.bin', content);
    await add(repo, ['data']);
    const one = await fileEntry(repo, 'HEAD', 'data/one.bin');
    const two = await fileEntry(repo, 'HEAD', 'data/two.bin');
    expect(two.chunks).toEqual(one.chunks);
    const distinct = new Set(one.chunks.map(([id]) => id)).size;
    expect(distinct).toBeGreaterThan(8);
    expect(countBlobs(repo, 1)).toBe(distinct);
    const stored = repo.db.prepare('SELECT SUM(length) FROM blobs WHERE type = 1').pluck().get() as number;
    expect(stored).toBe(content.length);

    // A third copy in a new version, and the same file under a new directory: no new chunks.
    writeFile(root, 'data/copy/three.bin', content);
    await commit(repo);
    expect(countBlobs(repo, 1)).toBe(distinct);

    // Append a few bytes: only the tail chunk(s) are new.
    fs.appendFileSync(path.join(root, 'data/one.bin'), 'tail');
    await commit(repo);
    const added = countBlobs(repo, 1) - distinct;
    expect(added).toBeGreaterThanOrEqual(1);
    expect(added).toBeLessThanOrEqual(2);

    // Insert one byte at the start: content-defined chunking resynchronises (<= 2 new chunks).
    const before = countBlobs(repo, 1);
    writeFile(root, 'data/two.bin', Buffer.concat([Buffer.from([7]), content]));
    await commit(repo);
    expect(countBlobs(repo, 1) - before).toBeLessThanOrEqual(2);

    // Unchanged history reads back exactly.
    expect((await readAll(await cat(repo, 'HEAD~2:data/two.bin'))).equals(content)).toBe(true);
  });

  it('trees of unchanged directories are shared between versions', async () => {
    const { root, repo } = await fx.create();
    writeFile(root, 'data/static/x.csv', 'x');
    writeFile(root, 'data/moving/y.csv', 'y1');
    await add(repo, ['data']);
    writeFile(root, 'data/moving/y.csv', 'y2');
    await commit(repo);
    const t1 = await repo.lookup(await repo.resolve('HEAD~1'), 'data/static');
    const t2 = await repo.lookup(await repo.resolve('HEAD'), 'data/static');
    expect(t1).toEqual(t2);
    const m1 = await repo.lookup(await repo.resolve('HEAD~1'), 'data/moving');
    const m2 = await repo.lookup(await repo.resolve('HEAD'), 'data/moving');
    expect(m1).not.toEqual(m2);
  });
});

describe('stat cache', () => {
  it('unchanged size+mtime+inode means the file is not re-read; a new mtime means it is', async () => {
    const { root, repo } = await fx.create();
    writeRandomFile(root, 'data/x.bin', 300_000, 'x');
    writeFile(root, 'data/y.csv', 'y\n');
    ageFiles(path.join(root, 'data')); // older than the racy window: the cache may trust them
    await add(repo, ['data']);

    const abs = path.join(root, 'data/x.bin');
    const st = fs.statSync(abs);
    // Change the content behind dv's back, keeping size, inode and mtime.
    const fd = fs.openSync(abs, 'r+');
    fs.writeSync(fd, randomBytes(300_000, 'other'), 0, 300_000, 0);
    fs.closeSync(fd);
    setMtime(abs, st.mtimeMs);
    const st2 = fs.statSync(abs);
    expect([st2.size, st2.mtimeMs, st2.ino]).toEqual([st.size, st.mtimeMs, st.ino]);

    // Only the cache can say "clean" here: reading the file would find other bytes.
    expect(await status(repo)).toMatchObject({ added: [], modified: [], deleted: [] });
    expect((await commit(repo)).commit).toBeNull();

    setMtime(abs, st.mtimeMs + 2000);
    expect((await status(repo)).modified).toEqual(['data/x.bin']);
    const r = await commit(repo);
    expect(r.changes.map((c) => [c.path, c.status])).toEqual([['data/x.bin', 'modified']]);
    expect((await fileEntry(repo, 'HEAD', 'data/x.bin')).hash).toBe(blake3Hex(fs.readFileSync(abs)));
  });

  it('a file changed within the racy window is re-read, even with the same size and mtime', async () => {
    const { root, repo } = await fx.create();
    const abs = writeFile(root, 'data/r.csv', 'aaaa\n');
    // A whole second (utimes round-trips it exactly) 1-2 s ahead: inside the racy window of the add below.
    const mtime = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    setMtime(abs, mtime);
    await add(repo, ['data']);
    // Same size, and the same mtime (as on a filesystem with coarse timestamps).
    fs.writeFileSync(abs, 'bbbb\n');
    setMtime(abs, mtime);
    expect(fs.statSync(abs).mtimeMs).toBe(mtime);
    expect((await status(repo)).modified).toEqual(['data/r.csv']);
  });

  it('a replaced file (new inode, same size and mtime) is re-read', async () => {
    const { root, repo } = await fx.create();
    const abs = writeFile(root, 'data/i.csv', 'one\n');
    ageFiles(path.join(root, 'data'));
    await add(repo, ['data']);
    const st = fs.statSync(abs);
    const tmp = writeFile(root, 'i.tmp', 'two\n');
    setMtime(tmp, st.mtimeMs);
    fs.renameSync(tmp, abs);
    const st2 = fs.statSync(abs);
    expect(st2.ino).not.toBe(st.ino);
    expect((await status(repo)).modified).toEqual(['data/i.csv']);
  });
});

describe('project paths', () => {
  it('refuses paths outside the project and dv/git internals, accepts names that start with dots', async () => {
    const { projectPath } = await import('../../src/repo/workspace.js');
    const root = '/p/proj';
    expect(projectPath(root, root, 'data/')).toBe('data');
    expect(projectPath(root, `${root}/data`, 'a.csv')).toBe('data/a.csv');
    expect(projectPath(root, `${root}/data`, '../models')).toBe('models');
    expect(projectPath(root, root, '..data')).toBe('..data');
    expect(projectPath(root, root, '.hidden/x')).toBe('.hidden/x');
    expect(projectPath(root, root, '.')).toBe('');
    for (const bad of ['..', '../x', '/etc/passwd', 'data/../../x']) {
      expect(() => projectPath(root, root, bad), bad).toThrow(/outside the project/);
    }
    expect(() => projectPath(root, root, '.dv/packs')).toThrow(/own directory/);
    expect(() => projectPath(root, root, 'data/.git')).toThrow(/own directory/);
  });

  it('a directory whose name starts with two dots can be tracked', async () => {
    const { root, repo } = await fx.create();
    writeFile(root, '..odd/f.csv', 'x\n');
    const r = await add(repo, ['..odd']);
    expect(r.changes.map((c) => c.path)).toEqual(['..odd/f.csv']);
  });
});

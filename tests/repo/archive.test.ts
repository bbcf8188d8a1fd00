// dv export / dv import: plain tar out and back in, byte-identical; bad archives
// change nothing.
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportTar, importTar } from '../../src/repo/archive.js';
import { Repo } from '../../src/repo/repo.js';
import { add, commit } from '../../src/repo/snapshot.js';
import { createTag, listBranches, listTags } from '../../src/repo/history.js';
import { DvError } from '../../src/store/errors.js';
import { listFiles, snapshotTree, writeFile, writeRandomFile } from '../helpers/cli.js';
import { countBlobs, RepoFixtures } from '../helpers/repo.js';

const fx = new RepoFixtures();
afterEach(() => fx.closeAll());

interface TarItem { name: string; size: number; mode: number; type: string; data: Buffer }

async function readTar(file: string): Promise<TarItem[]> {
  const out: TarItem[] = [];
  const extract = tar.extract();
  extract.on('entry', (h, stream, next) => {
    const parts: Buffer[] = [];
    stream.on('data', (b: unknown) => parts.push(b as Buffer));
    stream.on('end', () => {
      out.push({ name: h.name, size: h.size ?? 0, mode: h.mode ?? 0, type: h.type ?? 'file', data: Buffer.concat(parts) });
      next();
    });
  });
  await pipeline(fs.createReadStream(file), extract);
  return out;
}

async function writeTar(file: string, entries: { name: string; data: string; type?: 'file' | 'symlink' }[]): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, fs.createWriteStream(file));
  for (const e of entries) {
    if (e.type === 'symlink') pack.entry({ name: e.name, type: 'symlink', linkname: e.data });
    else pack.entry({ name: e.name, size: Buffer.byteLength(e.data) }, e.data);
  }
  pack.finalize();
  await done;
}

/** Everything an import could change: workspace files, HEAD, refs, tracked paths. */
function repoState(root: string, repo: Repo) {
  return {
    files: snapshotTree(root),
    head: repo.head(),
    branches: listBranches(repo),
    tags: listTags(repo),
    commits: repo.db.prepare('SELECT COUNT(*) FROM blobs WHERE type = 3').pluck().get(),
    tmp: listFiles(path.join(repo.dvDir, 'tmp')),
  };
}

describe('export and import', () => {
  let root: string;
  let repo: Repo;
  let out: string;
  let v1: Record<string, string>;
  beforeEach(async () => {
    ({ root, repo } = await fx.create());
    out = fx.tempDir('dv-tar-');
    writeFile(root, 'data/a.csv', 'id\n1\n');
    writeFile(root, 'data/sub/deeper/b.csv', 'id\n2\n');
    writeFile(root, 'data/run.sh', '#!/bin/sh\n', 0o755);
    writeFile(root, 'data/empty', '');
    writeRandomFile(root, 'data/big.bin', 2_500_000, 'tar-big');
    await add(repo, ['data'], { message: 'v1' });
    v1 = snapshotTree(path.join(root, 'data'));
    await createTag(repo, 'v1');
    writeFile(root, 'data/a.csv', 'id\n1\n3\n');
    await commit(repo, { message: 'v2' });
  });

  it('exports a plain tar, entries relative to the exported path, and imports it byte-identical', async () => {
    const file = path.join(out, 'v1.tar');
    const r = await exportTar(repo, 'v1:data', file);
    expect(r).toMatchObject({ files: 5, bytes: 5 + 5 + 10 + 0 + 2_500_000 });
    expect(r.commit).toBe(await repo.resolve('v1'));
    const items = await readTar(file);
    expect(items.map((i) => i.name).sort()).toEqual(['a.csv', 'big.bin', 'empty', 'run.sh', 'sub/deeper/b.csv']);
    const byName = new Map(items.map((i) => [i.name, i]));
    expect(byName.get('a.csv')!.data.toString()).toBe('id\n1\n'); // v1, not the workspace's v2
    expect(byName.get('big.bin')!.data.equals(fs.readFileSync(path.join(root, 'data/big.bin')))).toBe(true);
    expect(byName.get('run.sh')!.mode & 0o777).toBe(0o755);
    expect(byName.get('a.csv')!.mode & 0o777).toBe(0o644);
    expect(listFiles(out)).toEqual(['v1.tar']); // no temp file left next to it

    const head = repo.headCommit();
    const chunksBefore = countBlobs(repo, 1);
    const imp = await importTar(repo, file, 'restored');
    expect(imp.commit).toMatch(/^[0-9a-f]{64}$/);
    expect((await repo.readCommit(imp.commit!)).parents).toEqual([head]);
    expect((await repo.readCommit(imp.commit!)).paths).toEqual(['data', 'restored']);
    expect(snapshotTree(path.join(root, 'restored'))).toEqual(v1);
    expect(imp.changes.every((c) => c.status === 'added' && c.path.startsWith('restored/'))).toBe(true);
    // The imported copy shares every chunk with the original.
    expect(countBlobs(repo, 1)).toBe(chunksBefore);
    expect(listFiles(path.join(repo.dvDir, 'tmp'))).toEqual([]);
  });

  it('exports a whole version and a single file', async () => {
    const all = path.join(out, 'all.tar');
    await exportTar(repo, 'HEAD', all);
    expect((await readTar(all)).map((i) => i.name).sort())
      .toEqual(['data/a.csv', 'data/big.bin', 'data/empty', 'data/run.sh', 'data/sub/deeper/b.csv']);
    const one = path.join(out, 'one.tar');
    await exportTar(repo, 'HEAD:data/a.csv', one);
    const items = await readTar(one);
    expect(items.map((i) => [i.name, i.data.toString()])).toEqual([['a.csv', 'id\n1\n3\n']]);
    await expect(exportTar(repo, 'HEAD:data/nope', path.join(out, 'x.tar'))).rejects.toThrow(/does not exist/);
    await expect(exportTar(repo, 'nope:data', path.join(out, 'x.tar'))).rejects.toThrow(/unknown ref/);
    expect(fs.existsSync(path.join(out, 'x.tar'))).toBe(false);
  });

  it('a truncated tar changes nothing', async () => {
    const file = path.join(out, 'v1.tar');
    await exportTar(repo, 'v1:data', file);
    const size = fs.statSync(file).size;
    for (const cut of [Math.floor(size / 2), 700, 512 + 100]) {
      const bad = path.join(out, `cut-${cut}.tar`);
      fs.writeFileSync(bad, fs.readFileSync(file).subarray(0, cut));
      const before = repoState(root, repo);
      const e = await importTar(repo, bad, 'restored').catch((x: unknown) => x);
      expect(e, `cut at ${cut}`).toBeInstanceOf(DvError);
      expect((e as DvError).message).toMatch(/cut-\d+\.tar/);
      expect(fs.existsSync(path.join(root, 'restored')), `cut at ${cut}`).toBe(false);
      expect(repoState(root, repo)).toEqual(before);
    }
  });

  it('refuses unsafe or unsupported entries, and clashes without --force, changing nothing', async () => {
    const evil = path.join(out, 'evil.tar');
    await writeTar(evil, [{ name: 'ok.txt', data: 'fine' }, { name: '../escape.txt', data: 'bad' }]);
    let before = repoState(root, repo);
    await expect(importTar(repo, evil, 'restored')).rejects.toThrow(/unsafe path/);
    expect(fs.existsSync(path.join(root, 'restored'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'escape.txt'))).toBe(false);
    expect(repoState(root, repo)).toEqual(before);

    const link = path.join(out, 'link.tar');
    await writeTar(link, [{ name: 'ok.txt', data: 'fine' }, { name: 'l', data: '/etc/passwd', type: 'symlink' }]);
    await expect(importTar(repo, link, 'restored')).rejects.toThrow(/symlink/);
    expect(repoState(root, repo)).toEqual(before);

    const plain = path.join(out, 'plain.tar');
    await writeTar(plain, [{ name: 'a.csv', data: 'from the tar' }]);
    before = repoState(root, repo);
    await expect(importTar(repo, plain, 'data')).rejects.toThrow(/overwrite/);
    expect(repoState(root, repo)).toEqual(before);
    const r = await importTar(repo, plain, 'data', { force: true });
    expect(r.changes.map((c) => [c.path, c.status])).toEqual([['data/a.csv', 'modified']]);
    expect(fs.readFileSync(path.join(root, 'data/a.csv'), 'utf8')).toBe('from the tar');

    await expect(importTar(repo, path.join(out, 'missing.tar'), 'x')).rejects.toThrow(/no such file/);
  });
});

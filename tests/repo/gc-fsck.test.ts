// dv gc and dv fsck on real packs: reclaim exactly the unreachable data; detect a
// flipped byte, a truncated or missing pack, and name the files they damage; never
// let corrupt bytes reach the workspace.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkout } from '../../src/repo/checkout.js';
import { fsck } from '../../src/repo/fsck.js';
import { gc } from '../../src/repo/gc.js';
import { createBranch, createTag, deleteBranch, deleteTag } from '../../src/repo/history.js';
import { cat } from '../../src/repo/read.js';
import { Repo } from '../../src/repo/repo.js';
import { add, commit } from '../../src/repo/snapshot.js';
import type { FileEntry } from '../../src/repo/types.js';
import { CorruptionError, DvError } from '../../src/store/errors.js';
import { blake3 } from '../../src/store/hash.js';
import { BlobType } from '../../src/store/packfile.js';
import { PackWriter } from '../../src/store/packwriter.js';
import { ageFiles, listFiles, randomBytes, snapshotTree, writeFile, writeRandomFile } from '../helpers/cli.js';
import { blobRow, countBlobs, flipByte, packFile, packFilesOnDisk, readAll, RepoFixtures } from '../helpers/repo.js';

const fx = new RepoFixtures();
afterEach(() => fx.closeAll());

async function fileEntry(repo: Repo, ref: string, p: string): Promise<FileEntry> {
  const e = await repo.lookup(await repo.resolve(ref), p);
  if (!e || e.type !== 'file') throw new Error(`${p} is not a file in ${ref}`);
  return e;
}

const located = (repo: Repo, id: string) => blobRow(repo, id) !== undefined;

function indexedPackIds(repo: Repo): string[] {
  return (repo.db.prepare('SELECT id FROM packs ORDER BY id').pluck().all() as string[]);
}

async function expectFsckClean(repo: Repo): Promise<void> {
  const r = await fsck(repo);
  expect(r.errors).toEqual([]);
  expect(r.warnings).toEqual([]);
  expect(r.ok).toBe(true);
  expect(r.packs).toBe(indexedPackIds(repo).length);
  expect(r.objects).toBe(countBlobs(repo));
}

describe('gc', () => {
  it('after a branch is deleted, removes its data (whole packs and inside shared packs) and keeps the rest', async () => {
    const { root, repo } = await fx.create();
    writeRandomFile(root, 'data/base.bin', 1 << 20, 'base');
    writeFile(root, 'data/a.csv', 'main\n');
    ageFiles(path.join(root, 'data'));
    const c1 = (await add(repo, ['data'], { message: 'base' })).commit!;

    await createBranch(repo, 'exp');
    await checkout(repo, 'exp');
    writeRandomFile(root, 'data/exp-only.bin', 1_500_000, 'exp-only');
    const shared = randomBytes(800_000, 'shared');
    writeFile(root, 'data/shared.bin', shared);
    writeFile(root, 'data/a.csv', 'exp\n');
    ageFiles(path.join(root, 'data'));
    const cExp = (await commit(repo, { message: 'experiment' })).commit!;
    const expOnly = (await fileEntry(repo, cExp, 'data/exp-only.bin')).chunks.map(([id]) => id);
    const expTree = (await repo.readCommit(cExp)).tree;

    await checkout(repo, 'main');
    expect(fs.existsSync(path.join(root, 'data/exp-only.bin'))).toBe(false);
    // main later gets the same bytes as the experiment's shared.bin: deduplicated into exp's pack.
    const chunksBefore = countBlobs(repo, BlobType.Chunk);
    writeFile(root, 'data/shared.bin', shared);
    ageFiles(path.join(root, 'data'));
    const c2 = (await commit(repo, { message: 'adopt shared' })).commit!;
    expect(countBlobs(repo, BlobType.Chunk)).toBe(chunksBefore);
    const sharedChunks = (await fileEntry(repo, c2, 'data/shared.bin')).chunks.map(([id]) => id);
    const mainFiles = snapshotTree(path.join(root, 'data'));
    await expect(deleteBranch(repo, 'exp')).rejects.toThrow(/not fully merged/);
    await deleteBranch(repo, 'exp', true);
    // The reflog keeps the deleted branch's commits (30 days by default)...
    expect((await gc(repo, { dryRun: true })).objectsDeleted).toBe(0);
    // ...until its entries expire.
    repo.config.reflogExpireDays = 0;

    // --dry-run reports but deletes nothing.
    const packsBefore = packFilesOnDisk(repo);
    const blobsBefore = countBlobs(repo);
    const dry = await gc(repo, { dryRun: true });
    expect(dry.dryRun).toBe(true);
    // exp-only chunks, exp's a.csv, its commit and trees
    expect(dry.objectsDeleted).toBeGreaterThanOrEqual(expOnly.length + 3);
    expect(dry.bytesFreed).toBeGreaterThanOrEqual(1_500_000);
    expect(dry.packsRewritten).toBeGreaterThanOrEqual(1);
    expect(packFilesOnDisk(repo)).toEqual(packsBefore);
    expect(countBlobs(repo)).toBe(blobsBefore);
    expect(expOnly.every((id) => located(repo, id))).toBe(true);

    const r = await gc(repo);
    expect(r).toMatchObject({ dryRun: false, objectsDeleted: dry.objectsDeleted, bytesFreed: dry.bytesFreed,
      packsDeleted: dry.packsDeleted, packsRewritten: dry.packsRewritten });
    expect(countBlobs(repo)).toBe(blobsBefore - r.objectsDeleted);
    expect(expOnly.some((id) => located(repo, id))).toBe(false);
    expect(located(repo, cExp)).toBe(false);
    expect(located(repo, expTree)).toBe(false);
    // Everything main needs is still there, including chunks that lived in exp's pack.
    expect(sharedChunks.every((id) => located(repo, id))).toBe(true);
    expect(located(repo, c1)).toBe(true);
    const after = packFilesOnDisk(repo);
    expect([...after.keys()].sort()).toEqual(indexedPackIds(repo));
    const total = (m: Map<string, number>) => [...m.values()].reduce((s, n) => s + n, 0);
    expect(total(packsBefore) - total(after)).toBeGreaterThanOrEqual(1_500_000);
    await expectFsckClean(repo);

    // The workspace restores byte-identical from what is left.
    fs.rmSync(path.join(root, 'data'), { recursive: true });
    await checkout(repo, 'main', { force: true });
    expect(snapshotTree(path.join(root, 'data'))).toEqual(mainFiles);
    expect((await readAll(await cat(repo, 'HEAD:data/shared.bin'))).equals(shared)).toBe(true);
    expect((await readAll(await cat(repo, `${c1}:data/base.bin`))).length).toBe(1 << 20);

    // Nothing left to collect; and a commit after gc still works (the stat cache did not lie).
    expect((await gc(repo)).objectsDeleted).toBe(0);
    writeFile(root, 'data/a.csv', 'after gc\n');
    const c3 = (await commit(repo)).commit!;
    expect((await repo.readCommit(c3)).parents).toEqual([c2]);
    await expectFsckClean(repo);
  });

  it('keeps what tags and a detached HEAD reach; collects it once they are gone', async () => {
    const { root, repo } = await fx.create();
    writeRandomFile(root, 'data/old.bin', 600_000, 'old');
    writeFile(root, 'data/a.csv', '1\n');
    ageFiles(path.join(root, 'data'));
    const c1 = (await add(repo, ['data'])).commit!;
    await createTag(repo, 't1');
    fs.rmSync(path.join(root, 'data/old.bin'));
    const c2 = (await commit(repo)).commit!;
    const oldChunks = (await fileEntry(repo, c1, 'data/old.bin')).chunks.map(([id]) => id);

    await checkout(repo, c2);
    writeFile(root, 'data/detached.csv', 'detached work\n');
    ageFiles(path.join(root, 'data'));
    const c3 = (await commit(repo)).commit!;
    expect(repo.head()).toEqual({ branch: null, commit: c3 });

    expect((await gc(repo)).objectsDeleted).toBe(0);
    expect(oldChunks.every((id) => located(repo, id))).toBe(true);
    expect((await readAll(await cat(repo, 't1:data/old.bin'))).length).toBe(600_000);
    expect(located(repo, c3)).toBe(true);

    await deleteTag(repo, 't1');
    await checkout(repo, 'main');
    expect(located(repo, c3)).toBe(true); // the reflog holds it
    repo.config.reflogExpireDays = 0;
    const r = await gc(repo);
    // c1 is still c2's parent: history stays, so old.bin stays.
    expect(oldChunks.every((id) => located(repo, id))).toBe(true);
    // The detached commit and its new file are gone.
    expect(located(repo, c3)).toBe(false);
    expect(r.objectsDeleted).toBeGreaterThanOrEqual(3);
    await expectFsckClean(repo);
  });

  it('an expiry at the very millisecond of a reflog entry drops it: it is no root any more', async () => {
    const { root, repo } = await fx.create();
    writeFile(root, 'data/a.csv', '1\n');
    const c1 = (await add(repo, ['data'])).commit!;
    writeFile(root, 'data/a.csv', '2\n');
    ageFiles(path.join(root, 'data'));
    const c2 = (await commit(repo)).commit!;
    const [newest, older] = repo.refs.reflog('heads/main');
    expect([newest.new, older.new]).toEqual([c2, c1]);
    // A cutoff just before the newest entry keeps it; one at its time drops it.
    const before = new Date(Date.parse(newest.time) - 1).toISOString();
    expect(repo.refs.reflogCommitsSince(before)).toContain(c2);
    expect(repo.refs.reflogCommitsSince(newest.time)).not.toContain(c2);
    const entries = repo.refs.reflog().length;
    expect(repo.refs.expireReflog(newest.time)).toBe(entries);
    expect(repo.refs.reflog()).toEqual([]);
  });

  it('removes packs left unindexed by an interrupted writer, and old temp files', async () => {
    const { root, repo } = await fx.create();
    writeFile(root, 'data/a.csv', 'a\n');
    await add(repo, ['data']);
    const packs = path.join(repo.dvDir, 'packs');
    const w = await PackWriter.create(path.join(repo.dvDir, 'tmp'));
    const orphanData = randomBytes(50_000, 'orphan');
    w.add(BlobType.Chunk, blake3(orphanData), orphanData);
    const orphan = w.seal(packs);
    const stale = path.join(repo.dvDir, 'tmp', 'pack-12345-deadbeef.tmp');
    fs.writeFileSync(stale, 'half a pack');
    fs.utimesSync(stale, new Date(Date.now() - 7200_000), new Date(Date.now() - 7200_000));

    const f = await fsck(repo);
    expect(f.ok).toBe(true);
    expect(f.errors).toEqual([]);
    expect(f.warnings.join('\n')).toMatch(new RegExp(`pack ${orphan.id} is not indexed`));
    expect(f.warnings.join('\n')).toMatch(/temporary file/);

    const dry = await gc(repo, { dryRun: true });
    expect(dry.orphanPacks).toBe(1);
    expect(fs.existsSync(packFile(repo, orphan.id))).toBe(true);
    const r = await gc(repo);
    expect(r.orphanPacks).toBe(1);
    expect(fs.existsSync(packFile(repo, orphan.id))).toBe(false);
    expect(fs.existsSync(stale)).toBe(false);
    await expectFsckClean(repo);
  });
});

describe('fsck and corruption', () => {
  async function corruptRepo() {
    const { root, repo } = await fx.create();
    writeRandomFile(root, 'data/victim.bin', 700_000, 'victim');
    writeRandomFile(root, 'data/other.bin', 700_000, 'other');
    writeFile(root, 'data/a.csv', 'a\n');
    const c1 = (await add(repo, ['data'])).commit!;
    const victim = await fileEntry(repo, c1, 'data/victim.bin');
    expect(victim.chunks.length).toBeGreaterThanOrEqual(3);
    return { root, repo, c1, victim };
  }

  it('a clean repository is clean', async () => {
    const { repo } = await corruptRepo();
    await expectFsckClean(repo);
  });

  it('detects a flipped byte inside a pack and names the damaged file; reads fail and write nothing corrupt', async () => {
    const { root, repo, c1, victim } = await corruptRepo();
    const [chunkId] = victim.chunks[1];
    const row = blobRow(repo, chunkId)!;
    expect(row.type).toBe(BlobType.Chunk);
    flipByte(packFile(repo, row.pack), row.offset + Math.floor(row.length / 2));

    const r = await fsck(repo);
    expect(r.ok).toBe(false);
    const text = r.errors.join('\n');
    expect(text).toContain('data/victim.bin');
    expect(text).toContain(chunkId);
    expect(text).not.toContain('data/other.bin');
    expect(text).not.toContain('data/a.csv');

    // dv cat: detected by hash on read.
    const e = await readAll(await cat(repo, 'HEAD:data/victim.bin')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CorruptionError);
    expect((e as Error).message).toMatch(/corrupt/);
    // Unaffected files still read.
    expect((await readAll(await cat(repo, 'HEAD:data/other.bin'))).equals(fs.readFileSync(path.join(root, 'data/other.bin')))).toBe(true);

    // checkout of the damaged file: a clear error, and no corrupt file in the workspace.
    const good = fs.readFileSync(path.join(root, 'data/victim.bin'));
    fs.rmSync(path.join(root, 'data/victim.bin'));
    const ce = await checkout(repo, 'HEAD', { force: true }).catch((x: unknown) => x);
    expect(ce).toBeInstanceOf(DvError);
    expect((ce as Error).message).toMatch(/data\/victim\.bin/);
    expect((ce as Error).message).toMatch(/corrupt/);
    expect(fs.existsSync(path.join(root, 'data/victim.bin'))).toBe(false);
    expect(listFiles(path.join(root, 'data'))).toEqual(['a.csv', 'other.bin']);
    // A modified copy is not replaced by damaged bytes either.
    writeFile(root, 'data/victim.bin', 'my own bytes');
    await expect(checkout(repo, c1, { force: true })).rejects.toThrow(/corrupt/);
    expect(fs.readFileSync(path.join(root, 'data/victim.bin'), 'utf8')).toBe('my own bytes');
    expect(listFiles(path.join(root, 'data'))).toEqual(['a.csv', 'other.bin', 'victim.bin']);
    expect(good.length).toBe(700_000);
  });

  /** A second commit whose metadata lands in a newer pack, while the data chunks stay in the first. */
  async function twoPacks() {
    const t = await corruptRepo();
    writeFile(t.root, 'data/a.csv', 'a2\n');
    const c2 = (await commit(t.repo)).commit!;
    const dataPack = blobRow(t.repo, t.victim.chunks[0][0])!.pack;
    expect(blobRow(t.repo, c2)!.pack).not.toBe(dataPack);
    return { ...t, c2, dataPack };
  }

  it('detects a truncated pack and names the damaged files', async () => {
    const { repo, dataPack } = await twoPacks();
    const file = packFile(repo, dataPack);
    fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
    const r = await fsck(repo);
    expect(r.ok).toBe(false);
    const text = r.errors.join('\n');
    expect(text).toMatch(new RegExp(`pack ${dataPack}: .*(truncated|footer)`));
    expect(text).toContain('data/victim.bin');
    // Reading past the cut fails, never returns short data.
    await expect(cat(repo, 'HEAD:data/victim.bin').then(readAll)).rejects.toThrow(/truncated|corrupt/);
  });

  it('detects a missing pack and names the damaged files', async () => {
    const { repo, dataPack } = await twoPacks();
    fs.rmSync(packFile(repo, dataPack));
    const r = await fsck(repo);
    expect(r.ok).toBe(false);
    expect(r.errors.join('\n')).toMatch(new RegExp(`pack ${dataPack}: pack file is missing`));
    expect(r.errors.join('\n')).toContain('data/victim.bin');
    expect(r.errors.join('\n')).toContain('data/other.bin');
    // As the next command would: this handle may hold the (now unlinked) pack open.
    await expect(cat(fx.reopen(repo.root), 'HEAD:data/victim.bin').then(readAll)).rejects.toThrow(/missing/);
  });

  it("when a whole version's metadata is lost, fsck still fails and names the commit", async () => {
    const { repo, c1, victim } = await corruptRepo();
    const pack = blobRow(repo, victim.chunks[0][0])!.pack;
    expect(blobRow(repo, c1)!.pack).toBe(pack);
    fs.rmSync(packFile(repo, pack));
    const r = await fsck(fx.reopen(repo.root));
    expect(r.ok).toBe(false);
    expect(r.errors.join('\n')).toContain(c1);
  });

  it('detects a damaged tree object and names the directory', async () => {
    const { repo, c1 } = await corruptRepo();
    const dataTree = await repo.lookup(c1, 'data');
    expect(dataTree?.type).toBe('dir');
    const treeId = (dataTree as { tree: string }).tree;
    const row = blobRow(repo, treeId)!;
    flipByte(packFile(repo, row.pack), row.offset + 10);
    const fresh = fx.reopen(repo.root); // no cached objects
    const r = await fsck(fresh);
    expect(r.ok).toBe(false);
    expect(r.errors.join('\n')).toContain(treeId);
    expect(r.errors.join('\n')).toMatch(/directory data .*damaged/);
    await expect(cat(fresh, 'HEAD:data/a.csv').then(readAll)).rejects.toThrow(/corrupt/);
  });
});

// updateTree (commits that touch a few paths) must give exactly the tree that building
// the whole file list from scratch gives: same ids, so history stays content-addressed.
// Large directories are stored in parts; a few changes must rewrite only a few parts.
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { checkout } from '../../src/repo/checkout.js';
import { fsck } from '../../src/repo/fsck.js';
import { gc } from '../../src/repo/gc.js';
import { ObjectStore, PARTS_ABOVE, compareEntries } from '../../src/repo/objects.js';
import { add } from '../../src/repo/snapshot.js';
import { buildTree, flatten, updateTree, type FlatTree } from '../../src/repo/trees.js';
import type { FileEntry } from '../../src/repo/types.js';
import { blake3Hex } from '../../src/store/hash.js';
import { BlobType } from '../../src/store/packfile.js';
import { ageFiles, writeFile } from '../helpers/cli.js';
import { blobRow, countBlobs, flipByte, packFile, RepoFixtures } from '../helpers/repo.js';

const fx = new RepoFixtures();
afterEach(() => fx.closeAll());

function file(p: string, content: string, mode = 0o644): FileEntry {
  const hash = blake3Hex(content);
  return { name: p.split('/').pop()!, type: 'file', mode, size: content.length, hash, chunks: [[hash, content.length]] };
}

describe('updateTree', () => {
  it('equals a full rebuild for adds, edits, deletes, emptied and new directories', async () => {
    const { repo } = await fx.create();
    const start: FlatTree = new Map();
    for (const p of ['a.csv', 'd/x.csv', 'd/y.csv', 'd/e/z.csv', 'only/one.csv', 'keep/k1', 'keep/sub/k2']) start.set(p, file(p, p));
    const root = await buildTree(repo.objects, start);

    const changes = new Map<string, FileEntry | null>([
      ['a.csv', file('a.csv', 'edited')],            // edit at the root
      ['d/y.csv', null],                             // delete
      ['d/e/z.csv', null],                           // empties d/e
      ['only/one.csv', null],                        // empties only/
      ['new/deep/n.csv', file('new/deep/n.csv', 'n')],// new directories
      ['d/x.csv', file('d/x.csv', 'x', 0o755)],      // mode change
      ['missing.csv', null],                         // deleting what is not there
    ]);
    const expected = new Map(start);
    for (const [p, e] of changes) { if (e) expected.set(p, e); else expected.delete(p); }

    const updated = await updateTree(repo.objects, root, changes);
    expect(updated).toBe(await buildTree(repo.objects, expected));
    expect([...(await flatten(repo.objects, updated)).keys()].sort()).toEqual([...expected.keys()].sort());
    // Untouched subtrees keep their ids.
    const keepBefore = (await repo.objects.readTree(root)).entries.find((e) => e.name === 'keep');
    const keepAfter = (await repo.objects.readTree(updated)).entries.find((e) => e.name === 'keep');
    expect(keepAfter).toEqual(keepBefore);
  });

  it('builds from nothing and deletes down to an empty tree', async () => {
    const { repo } = await fx.create();
    const one = await updateTree(repo.objects, null, new Map([['x/y.txt', file('x/y.txt', 'y')]]));
    expect(one).toBe(await buildTree(repo.objects, new Map([['x/y.txt', file('x/y.txt', 'y')]])));
    const none = await updateTree(repo.objects, one, new Map([['x/y.txt', null]]));
    expect(none).toBe(await buildTree(repo.objects, new Map()));
  });
});

function bigDir(n: number, dir = 'big'): FlatTree {
  const m: FlatTree = new Map();
  for (let i = 0; i < n; i++) {
    const p = `${dir}/f${String(i).padStart(5, '0')}.csv`;
    m.set(p, file(p, p));
  }
  return m;
}

describe('large directories', () => {
  it('are stored as parts of contiguous sorted entries, read back as one sorted list', async () => {
    const { repo } = await fx.create();
    const files = bigDir(5000);
    files.set('big/sub/x.csv', file('big/sub/x.csv', 'x')); // a directory among the files sorts as `sub/`
    const root = await buildTree(repo.objects, files);
    const big = (await repo.objects.readTree(root)).entries.find((e) => e.name === 'big');
    if (big?.type !== 'dir') throw new Error('no big/');
    // A fresh object store reads what is stored, not what the writer cached.
    const fresh = new ObjectStore(repo.blobs);
    const tree = await fresh.readTree(big.tree);
    expect(tree.parts!.length).toBeGreaterThan(5);
    expect(tree.entries.length).toBe(5001);
    expect(tree.entries).toEqual([...tree.entries].sort(compareEntries));
    let total = 0;
    for (const part of tree.parts!) {
      const entries = (await fresh.readTree(part)).entries;
      expect(entries.length).toBeLessThanOrEqual(4096);
      total += entries.length;
    }
    expect(total).toBe(5001);
    expect([...(await flatten(fresh, root)).keys()].sort()).toEqual([...files.keys()].sort());
  });

  it('pins the id of a partitioned directory (format stability)', async () => {
    const { repo } = await fx.create();
    const root = await buildTree(repo.objects, bigDir(3000));
    expect(root).toBe('ae2752028a91537aae3465f69c58e7aab1b064e1c37770c474f0151ea480906a');
  });

  it('a few changes rewrite a few parts, and equal a full rebuild', async () => {
    const { repo } = await fx.create();
    const start = bigDir(10_000);
    const root = await buildTree(repo.objects, start);
    repo.blobs.flush();
    const before = countBlobs(repo, BlobType.Tree);
    const changes = new Map<string, FileEntry | null>([
      ['big/f00010.csv', file('big/f00010.csv', 'edited')],
      ['big/f05000.csv', null],
      ['big/f09999b.csv', file('big/f09999b.csv', 'new')],
    ]);
    const updated = await updateTree(repo.objects, root, changes);
    repo.blobs.flush();
    // At most one part per change, the index of parts and the root.
    expect(countBlobs(repo, BlobType.Tree) - before).toBeLessThanOrEqual(changes.size + 2);
    const expected = new Map(start);
    for (const [p, e] of changes) { if (e) expected.set(p, e); else expected.delete(p); }
    const { repo: other } = await fx.create();
    expect(updated).toBe(await buildTree(other.objects, expected));
  });

  it('switch between one object and parts at the threshold', async () => {
    const { repo } = await fx.create();
    const atLimit = bigDir(PARTS_ABOVE);
    const flat = await buildTree(repo.objects, atLimit);
    const p = `big/zz.csv`;
    const over = await updateTree(repo.objects, flat, new Map([[p, file(p, p)]]));
    const dirOf = async (root: string) => {
      const e = (await new ObjectStore(repo.blobs).readTree(root)).entries[0]!;
      return e.type === 'dir' ? new ObjectStore(repo.blobs).readTree(e.tree) : null;
    };
    repo.blobs.flush();
    expect((await dirOf(flat))!.parts).toBeUndefined();
    expect((await dirOf(over))!.parts).toBeDefined();
    const back = await updateTree(repo.objects, over, new Map([[p, null]]));
    expect(back).toBe(flat);
  });

  it('survive gc, check out, and a damaged part is named by fsck', async () => {
    const { root, repo } = await fx.create();
    for (let i = 0; i < 3000; i++) writeFile(root, `data/f${String(i).padStart(4, '0')}.txt`, `v1 ${i}\n`);
    ageFiles(`${root}/data`);
    const c1 = (await add(repo, ['data'], { message: 'v1' })).commit!;
    writeFile(root, 'data/f0001.txt', 'v2\n');
    ageFiles(`${root}/data`);
    await add(repo, ['data'], { message: 'v2' });
    await gc(repo);
    expect((await fsck(repo)).ok).toBe(true);
    await checkout(repo, c1);
    expect(fs.readFileSync(`${root}/data/f0001.txt`, 'utf8')).toBe('v1 1\n');
    expect(fs.readdirSync(`${root}/data`).length).toBe(3000);

    const top = (await repo.readTree((await repo.readCommit(c1)).tree)).entries[0]!;
    if (top.type !== 'dir') throw new Error('no data/');
    const part = (await repo.readTree(top.tree)).parts![3]!;
    const row = blobRow(repo, part)!;
    flipByte(packFile(repo, row.pack), row.offset + 5);
    const r = await fsck(fx.reopen(root));
    expect(r.ok).toBe(false);
    expect(r.errors.join('\n')).toContain(`directory data (commit ${c1.slice(0, 12)}) is damaged`);
  });
});

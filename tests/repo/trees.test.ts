// updateTree (commits that touch a few paths) must give exactly the tree that building
// the whole file list from scratch gives: same ids, so history stays content-addressed.
// Large directories are stored in parts; a few changes must rewrite only a few parts.
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { checkout } from '../../src/repo/checkout.js';
import { fsck } from '../../src/repo/fsck.js';
import { gc } from '../../src/repo/gc.js';
import { ObjectStore, PART_MAX, PARTS_ABOVE, compareEntries, entrySortKey } from '../../src/repo/objects.js';
import { add } from '../../src/repo/snapshot.js';
import { addedEmptyDirs, buildTree, flatten, updateTree, walk, type FlatTree } from '../../src/repo/trees.js';
import type { FileEntry } from '../../src/repo/types.js';
import { blake3Hex, fnv1a32 } from '../../src/store/hash.js';
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

  it('a marker change keeps an empty directory, is a no-op on one with files, and drops it only while empty', async () => {
    const { repo } = await fx.create();
    const marker = file('m', '');
    const base = await buildTree(repo.objects, new Map([['d/f.csv', file('d/f.csv', 'f')]]));
    const marked = await updateTree(repo.objects, base, new Map([['d/e/g/', marker], ['d/', marker]]));
    expect(await addedEmptyDirs(repo.objects, base, marked)).toEqual(['d/e/g']);
    expect(await addedEmptyDirs(repo.objects, marked, marked)).toEqual([]);
    expect([...(await flatten(repo.objects, marked)).keys()]).toEqual(['d/f.csv']);
    const items = [];
    for await (const it of walk(repo.objects, marked, 'd/', '', true)) items.push([it.path, it.entry.size]);
    expect(items).toEqual([['d/e/g/', 0], ['d/f.csv', 1]]);
    // Dropping a marker of a directory with files changes nothing; of an empty one, removes it and its emptied parents.
    expect(await updateTree(repo.objects, marked, new Map([['d/', null]]))).toBe(marked);
    expect(await updateTree(repo.objects, marked, new Map([['d/e/g/', null]]))).toBe(base);
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

/** mulberry32: a seeded PRNG, so a failing round replays. Returns an integer in [0, n). */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}

// Edits a large directory (big/) in place, part by part; every round must give the id a
// full rebuild gives, and a small round must write few tree objects.
describe('updateTree on large directories (randomized)', () => {
  for (const seed of [7, 42, 2024]) {
    it(`equals a full rebuild through rounds of edits (seed ${seed})`, async () => {
      const rnd = prng(seed);
      const { repo } = await fx.create();
      const { repo: other } = await fx.create(); // full rebuilds, sharing no cache with `repo`
      const ALPHA = 'abcdefghijklmnopqrstuvwxyz0123456789_.';
      const expected: FlatTree = new Map();
      let version = 0;
      const put = (changes: Map<string, FileEntry | null>, p: string) => changes.set(p, file(p, `${p} v${++version}`));

      // The top-level entries of big/: file names, and directory names.
      const files = () => [...expected.keys()].filter((p) => p.startsWith('big/') && !p.slice(4).includes('/')).map((p) => p.slice(4));
      const dirs = () => [...new Set([...expected.keys()].filter((p) => p.startsWith('big/') && p.slice(4).includes('/')).map((p) => p.split('/')[1]!))];
      const used = () => new Set([...files(), ...dirs()]);
      const newName = (taken: Set<string>, lead = ''): string => {
        for (;;) {
          const len = 1 + rnd(rnd(2) ? 6 : 24);
          let s = lead + ALPHA[rnd(36)];
          while (s.length < len) s += ALPHA[rnd(ALPHA.length)];
          if (!taken.has(s)) { taken.add(s); return s; }
        }
      };
      const pick = <T>(xs: T[]): T => xs[rnd(xs.length)]!;
      /** Deletes the entry of big/ with this sort key (a directory: all files under it). */
      const remove = (changes: Map<string, FileEntry | null>, key: string): void => {
        if (!key.endsWith('/')) { changes.set(`big/${key}`, null); return; }
        for (const p of expected.keys()) if (p.startsWith(`big/${key}`)) changes.set(p, null);
      };

      const n = 1500 + rnd(10_501);
      const taken = new Set<string>();
      for (let i = 0; i < n; i++) {
        const name = newName(taken);
        if (rnd(300) === 0) for (let j = 0, m = 1 + rnd(3); j < m; j++) expected.set(`big/${name}/s${j}.csv`, file(`big/${name}/s${j}.csv`, name));
        else expected.set(`big/${name}`, file(`big/${name}`, name));
      }
      expected.set('top.csv', file('top.csv', 'top'));
      expected.set('other/x.csv', file('other/x.csv', 'x'));
      let root = await buildTree(repo.objects, expected);
      repo.blobs.flush();
      // A fresh store: the first round edits parts read from disk, later ones parts it wrote.
      const objects = new ObjectStore(repo.blobs);

      const bigDir = async () => {
        repo.blobs.flush();
        const store = new ObjectStore(repo.blobs);
        const e = await store.findEntry(root, 'big/');
        if (e?.type !== 'dir') throw new Error('no big/');
        const tree = await store.readTree(e.tree);
        const parts = await Promise.all((tree.parts ?? []).map(async (p) => (await store.readTree(p)).entries));
        return { tree, parts };
      };
      const step = async (label: string, changes: Map<string, FileEntry | null>, small = true) => {
        for (const [p, e] of changes) { if (e) expected.set(p, e); else expected.delete(p); }
        repo.blobs.flush();
        const before = countBlobs(repo, BlobType.Tree);
        root = await updateTree(objects, root, changes);
        repo.blobs.flush();
        const written = countBlobs(repo, BlobType.Tree) - before;
        expect(root, label).toBe(await buildTree(new ObjectStore(other.blobs), expected));
        if (small) {
          // Per changed entry of big/ its part and the next; the index, the root and subdirectories.
          const names = new Set([...changes.keys()].map((p) => p.split('/')[1]));
          const subdirs = new Set([...changes.keys()].filter((p) => p.split('/').length > 2).map((p) => p.split('/')[1]));
          expect(written, label).toBeLessThanOrEqual(2 * names.size + subdirs.size + 2);
        }
      };
      const randomEdits = (k: number, pool = files()): Map<string, FileEntry | null> => {
        const changes = new Map<string, FileEntry | null>();
        const names = used();
        const subdirs = dirs();
        for (let i = 0; i < k; i++) {
          const op = rnd(4);
          if (op === 0 || !pool.length) put(changes, `big/${newName(names)}`);
          else if (op === 3 && subdirs.length) put(changes, `big/${pick(subdirs)}/${newName(new Set())}.csv`);
          else if (op === 1) changes.set(`big/${pick(pool)}`, null);
          else put(changes, `big/${pick(pool)}`);
        }
        return changes;
      };

      for (let r = 0; r < 3; r++) await step(`random ${r}`, randomEdits(1 + rnd(8)));

      { // the very start and end of the directory: inserts before and after all, and deletes of the first and last
        const { tree } = await bigDir();
        const changes = new Map<string, FileEntry | null>();
        remove(changes, entrySortKey(tree.entries[0]!));
        remove(changes, entrySortKey(tree.entries[tree.entries.length - 1]!));
        const names = used();
        put(changes, `big/${newName(names, '+')}`);
        put(changes, `big/${newName(names, '~')}`);
        await step('ends', changes);
      }
      { // a part's last entry (its boundary), another's first, and an insert right after a third's end
        const { parts } = await bigDir();
        const changes = new Map<string, FileEntry | null>();
        remove(changes, entrySortKey(pick(parts.slice(0, -1)).at(-1)!));
        remove(changes, entrySortKey(pick(parts.slice(1))[0]!));
        const last = pick(parts.slice(0, -1)).at(-1)!;
        if (last.type === 'file' && !expected.has(`big/${last.name}-z`)) put(changes, `big/${last.name}-z`);
        await step('boundaries', changes);
      }
      { // file -> directory and directory -> file in one commit; a file beside a directory of its name is refused
        const changes = new Map<string, FileEntry | null>();
        const f = pick(files());
        changes.set(`big/${f}`, null);
        put(changes, `big/${f}/inner.csv`);
        const [d, e] = dirs();
        if (d) { remove(changes, `${d}/`); put(changes, `big/${d}`); }
        await step('file <-> dir', changes);
        if (e) {
          const clash = new Map([[`big/${e}`, file(`big/${e}`, 'clash')]]);
          await expect(updateTree(objects, root, clash)).rejects.toThrow(`'big/${e}' would be both a file and a directory`);
        }
        const g = pick(files());
        await expect(updateTree(objects, root, new Map([[`big/${g}/x`, file(`big/${g}/x`, 'x')]])))
          .rejects.toThrow(`'big/${g}' would be both a file and a directory`);
        await step('random after file <-> dir', randomEdits(4));
      }
      { // a run of entries no content-defined boundary ends: parts are cut at PART_MAX
        const anchor = pick(files().filter((x) => /^[a-z0-9][a-z0-9_.]*$/.test(x)));
        const changes = new Map<string, FileEntry | null>();
        for (let j = 0; changes.size < 4500; j++) {
          const name = `${anchor}-${j}`; // sorts right after anchor, before its old successor
          if (fnv1a32(name) % 256 !== 0) put(changes, `big/${name}`);
        }
        await step('cluster', changes, false);
        expect((await bigDir()).parts.map((p) => p.length)).toContain(PART_MAX);
        const cluster = [...changes.keys()].map((p) => p.slice(4));
        for (let r = 0; r < 3; r++) {
          const edits = randomEdits(2 + rnd(4), cluster);
          put(edits, `big/${anchor}-${rnd(4500)}b`);
          await step(`in the cluster ${r}`, edits);
        }
      }
      { // deletes down to just above the threshold, then across it to one object
        const count = files().length + dirs().length;
        const changes = new Map<string, FileEntry | null>();
        const pool = files(); // deleting these shrinks the count
        while (count - changes.size > PARTS_ABOVE + 6) changes.set(`big/${pool.splice(rnd(pool.length), 1)[0]!}`, null);
        await step('shrink', changes, false);
        expect((await bigDir()).tree.parts).toBeDefined();
        const across = new Map<string, FileEntry | null>();
        for (let i = 0; i < 12; i++) across.set(`big/${pool.splice(rnd(pool.length), 1)[0]!}`, null);
        put(across, `big/${newName(used())}`);
        await step('across the threshold', across);
        expect((await bigDir()).tree.parts).toBeUndefined();
        await step('random while flat', randomEdits(5));
        const grow = new Map<string, FileEntry | null>();
        const names = used();
        for (let i = 0; i < 100; i++) put(grow, `big/${newName(names)}`);
        await step('grow', grow, false);
        expect((await bigDir()).tree.parts).toBeDefined();
        for (let r = 0; r < 2; r++) await step(`random again ${r}`, randomEdits(1 + rnd(8)));
      }
      expect([...(await flatten(new ObjectStore(repo.blobs), root)).keys()].sort()).toEqual([...expected.keys()].sort());
    }, 120_000);
  }
});

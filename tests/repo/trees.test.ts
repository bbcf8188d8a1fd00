// updateTree (commits that touch a few paths) must give exactly the tree that building
// the whole file list from scratch gives: same ids, so history stays content-addressed.
import { afterEach, describe, expect, it } from 'vitest';
import { buildTree, flatten, updateTree, type FlatTree } from '../../src/repo/trees.js';
import type { FileEntry } from '../../src/repo/types.js';
import { blake3Hex } from '../../src/store/hash.js';
import { RepoFixtures } from '../helpers/repo.js';

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

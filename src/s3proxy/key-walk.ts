// A version's files in S3 key order, named by their keys (keypath.ts), for listings.
//
// Trees sort their entries by stored name (directories as `name/`); keys sort by
// UTF-8 bytes. The two agree except in a directory holding an escaped name (`%` is
// the key segment "", which sorts elsewhere; a file `%` is the key `dir/`) or a character outside the BMP (UTF-16
// order differs from UTF-8 there): only such a directory is re-sorted, once per tree
// object (trees are immutable). Seeks (`startAfter`, `prefix`) are binary searches
// in each directory on the way down, so a page of a listing costs O(depth log n)
// plus the keys it returns.
import type { ObjectStore } from '../repo/objects.js';
import { markerEntry } from '../repo/trees.js';
import type { Tree, TreeEntry, WalkItem } from '../repo/types.js';
import { partitionPoint } from '../store/sorted.js';
import { isEscaped, unescapeSeg } from './keypath.js';
import { cmpKey } from './key-order.js';

interface Named {
  /** The entry's part of the key: a file's name, or a directory's key segment + '/'. */
  k: string;
  e: TreeEntry;
}

const ordered = new WeakMap<Tree, Named[]>();
const SURROGATE = /[\uD800-\uDFFF]/;

function inKeyOrder(tree: Tree): Named[] {
  let list = ordered.get(tree);
  if (!list) {
    let resort = false;
    list = tree.entries.map((e) => {
      if (!resort && (isEscaped(e.name) || SURROGATE.test(e.name))) resort = true;
      const seg = unescapeSeg(e.name);
      return { k: e.type === 'dir' ? `${seg}/` : seg, e };
    });
    if (resort) list.sort((a, b) => cmpKey(a.k, b.k));
    ordered.set(tree, list);
  }
  return list;
}

/** The first index of `list` that may hold keys at or after `bound` (strictly after if `exclusive`). */
function seek(list: Named[], bound: string, exclusive: boolean): number {
  const i = partitionPoint(0, list.length, (j) => {
    const c = cmpKey(list[j]!.k, bound);
    return exclusive ? c <= 0 : c < 0;
  });
  // A directory whose key is a prefix of the bound holds keys past it.
  const prev = list[i - 1];
  return prev && prev.e.type === 'dir' && bound.startsWith(prev.k) ? i - 1 : i;
}

/**
 * Files (and empty directories as markers `dir/`) whose key starts with `prefix` and
 * sorts strictly after `startAfter`, lazily, in key order.
 */
export async function* walkKeys(objects: ObjectStore, rootTree: string, prefix = '', startAfter = ''): AsyncGenerator<WalkItem> {
  async function* visit(id: string, dir: string): AsyncGenerator<WalkItem> {
    const tree = await objects.readTree(id);
    if (dir && !tree.entries.length) {
      if (dir.startsWith(prefix) && !(startAfter && cmpKey(dir, startAfter) <= 0)) yield { path: dir, entry: markerEntry() };
      return;
    }
    const list = inKeyOrder(tree);
    let i = 0;
    if (prefix.length > dir.length && prefix.startsWith(dir)) i = seek(list, prefix.slice(dir.length), false);
    if (startAfter.length > dir.length && startAfter.startsWith(dir)) i = Math.max(i, seek(list, startAfter.slice(dir.length), true));
    for (; i < list.length; i++) {
      const { k, e } = list[i]!;
      const key = dir + k;
      if (!key.startsWith(prefix) && !(e.type === 'dir' && prefix.startsWith(key))) {
        if (cmpKey(key, prefix) > 0) return; // sorted: nothing further can match
        continue;
      }
      if (e.type === 'dir') yield* visit(e.tree, key);
      else if (!(startAfter && cmpKey(key, startAfter) <= 0)) yield { path: key, entry: e };
    }
  }
  yield* visit(rootTree, '');
}

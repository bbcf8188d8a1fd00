// One page of a directory without reading all of it. A directory of more than 1,024
// entries is stored as an index of parts, each a contiguous run of its sorted entries
// (docs/ARCHITECTURE.md, "Objects"); ObjectStore.readTree reads and joins every part
// (100,000 entries: ~0.6 s), while the first page needs only the first part. Parts
// are read in order until the page is full; each part's entry count is remembered
// (ids are content hashes, so counts never change), which lets later pages skip the
// parts before them and makes the total known once every part has been seen.
import type { Repo } from '../../repo/repo.js';
import type { TreeEntry } from '../../repo/types.js';

interface StoredTree {
  entries?: TreeEntry[];
  parts?: string[];
}

const counts = new Map<string, number>();
const parts = new Map<string, TreeEntry[]>();
const PARTS_KEPT = 64;
const COUNTS_KEPT = 100_000;

async function readDoc(repo: Repo, id: string): Promise<StoredTree> {
  return JSON.parse((await repo.blobs.get(id)).toString('utf8')) as StoredTree;
}

async function part(repo: Repo, id: string): Promise<TreeEntry[]> {
  let p = parts.get(id);
  if (!p) {
    p = (await readDoc(repo, id)).entries ?? [];
    parts.set(id, p);
    if (parts.size > PARTS_KEPT) parts.delete(parts.keys().next().value!);
    if (counts.size < COUNTS_KEPT) counts.set(id, p.length);
  }
  return p;
}

export interface DirPage {
  items: TreeEntry[];
  /** Null until every part's size is known. */
  total: number | null;
  /** Whether entries follow this page. */
  more: boolean;
  /** Entries per part seen so far times the number of parts, while total is null. */
  estimate: number;
}

export async function dirPage(repo: Repo, treeId: string, offset: number, limit: number): Promise<DirPage> {
  const doc = await readDoc(repo, treeId);
  if (!doc.parts) {
    const all = doc.entries ?? [];
    return { items: all.slice(offset, offset + limit), total: all.length, more: offset + limit < all.length, estimate: all.length };
  }
  const items: TreeEntry[] = [];
  let start = 0;
  let i = 0;
  for (; i < doc.parts.length && items.length < limit; i++) {
    const id = doc.parts[i]!;
    const known = counts.get(id);
    if (known !== undefined && start + known <= offset) { start += known; continue; }
    const entries = await part(repo, id);
    const from = Math.max(0, offset - start);
    items.push(...entries.slice(from, from + limit - items.length));
    start += entries.length;
  }
  let total: number | null = start;
  let seen = 0;
  for (let j = i; j < doc.parts.length && total !== null; j++) {
    const n = counts.get(doc.parts[j]!);
    if (n === undefined) total = null;
    else total += n;
  }
  for (const p of doc.parts) if (counts.has(p)) seen++;
  const known = doc.parts.reduce((s, p) => s + (counts.get(p) ?? 0), 0);
  const estimate = total ?? Math.round((known / Math.max(1, seen)) * doc.parts.length);
  return { items, total, more: total === null ? true : offset + items.length < total, estimate };
}

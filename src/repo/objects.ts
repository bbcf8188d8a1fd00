// Canonical encodings of trees and commits. Keys are written in a fixed order and
// without whitespace, so equal content always hashes to the same id.
import { BlobType } from '../store/packfile.js';
import type { BlobStore } from '../store/blobstore.js';
import { CorruptionError } from '../store/errors.js';
import { fnv1a32 } from '../store/hash.js';
import { partitionPoint } from '../store/sorted.js';
import { ops } from './opcount.js';
import type { ChunkRef, Commit, S3Meta, Tree, TreeEntry } from './types.js';

/** Directories sort as `name/` so that a depth-first walk yields S3 key order. */
export function entrySortKey(e: TreeEntry): string {
  return e.type === 'dir' ? `${e.name}/` : e.name;
}

export function compareEntries(a: TreeEntry, b: TreeEntry): number {
  const ka = entrySortKey(a);
  const kb = entrySortKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Chunk lists longer than this are stored as their own blob (36 bytes a chunk) and the
 * tree holds its id: a commit that touches one file in a directory of large files then
 * rewrites a small tree, not every neighbour's list.
 */
export const INLINE_CHUNKS = 16;

export function encodeChunkList(chunks: ChunkRef[]): Buffer {
  const buf = Buffer.allocUnsafe(chunks.length * 36);
  chunks.forEach(([id, len], i) => {
    buf.write(id, i * 36, 32, 'hex');
    buf.writeUInt32LE(len, i * 36 + 32);
  });
  return buf;
}

export function decodeChunkList(buf: Buffer, id: string): ChunkRef[] {
  if (buf.length % 36 !== 0) throw new CorruptionError(`chunk list ${id} is malformed`);
  const out: ChunkRef[] = [];
  for (let p = 0; p < buf.length; p += 36) out.push([buf.toString('hex', p, p + 32), buf.readUInt32LE(p + 32)]);
  return out;
}

/** The canonical bytes of a tree; `listIds` gives the stored list id of long chunk lists. */
export function encodeTree(tree: Tree, listIds: Map<TreeEntry, string> = new Map()): Buffer {
  const entries = [...tree.entries].sort(compareEntries).map((e) => {
    if (e.type === 'dir') return { name: e.name, type: 'dir', tree: e.tree };
    const list = listIds.get(e);
    const out = list
      ? { name: e.name, type: 'file', mode: e.mode, size: e.size, hash: e.hash, list }
      : { name: e.name, type: 'file', mode: e.mode, size: e.size, hash: e.hash, chunks: e.chunks };
    // Only files written through dv serve carry it: trees of dv add are unchanged.
    return e.s3 ? { ...out, s3: encodeS3(e.s3) } : out;
  });
  return Buffer.from(JSON.stringify({ entries }), 'utf8');
}

/** S3 facts in a fixed key order (part of the canonical encoding). */
function encodeS3(m: S3Meta): S3Meta {
  return {
    ...(m.etag !== undefined ? { etag: m.etag } : {}),
    ...(m.parts !== undefined ? { parts: m.parts } : {}),
    ...(m.checksum !== undefined ? { checksum: m.checksum } : {}),
    ...(m.type !== undefined ? { type: m.type } : {}),
    ...(m.meta !== undefined ? { meta: Object.fromEntries(Object.entries(m.meta).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) } : {}),
  };
}

export function encodeCommit(c: Commit): Buffer {
  const ordered: Commit = {
    tree: c.tree,
    parents: c.parents,
    paths: c.paths,
    message: c.message,
    author: c.author,
    time: c.time,
    git: c.git ? { commit: c.git.commit, dirty: c.git.dirty } : null,
    run: c.run,
    // Written only when set, so commits without them keep their bytes and ids.
    ...(c.identity != null || c.key != null ? { identity: c.identity ?? null, key: c.key ?? null } : {}),
  };
  return Buffer.from(JSON.stringify(ordered), 'utf8');
}

function parse<T>(data: Buffer, what: string, id: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch {
    throw new CorruptionError(`${what} ${id} cannot be decoded`);
  }
}

/**
 * Directories with more entries than this are stored in parts, so that a commit
 * changing a few files of a 10,000-file directory rewrites a few parts of ~256
 * entries (and a small index of part ids), not one 2 MB object.
 */
export const PARTS_ABOVE = 1024;
/** A part ends after an entry whose sort key hashes to 0 modulo this: ~256 entries a part,
 * and an insertion or deletion moves no boundary but its own. */
const PART_DIVISOR = 256;
/** Hard cap, so no run of unlucky names makes one part large. */
export const PART_MAX = 4096;

/** Whether a part always ends after this entry, wherever it stands. */
function endsPart(e: TreeEntry): boolean {
  return fnv1a32(entrySortKey(e)) % PART_DIVISOR === 0;
}

/** Splits sorted entries into parts at content-defined boundaries. Part of the format. */
export function splitParts(sorted: TreeEntry[]): TreeEntry[][] {
  const parts: TreeEntry[][] = [];
  let cur: TreeEntry[] = [];
  for (const e of sorted) {
    cur.push(e);
    if (cur.length >= PART_MAX || endsPart(e)) {
      parts.push(cur);
      cur = [];
    }
  }
  if (cur.length) parts.push(cur);
  return parts;
}

/** Index of the entry with this sort key in sorted entries, or -1. */
function indexOfKey(sorted: TreeEntry[], key: string): number {
  const i = partitionPoint(0, sorted.length, (j) => entrySortKey(sorted[j]!) <= key) - 1;
  return i >= 0 && entrySortKey(sorted[i]!) === key ? i : -1;
}

const ID_RE = /^[0-9a-f]{64}$/;

interface StoredTree {
  entries?: (TreeEntry & { list?: string })[];
  parts?: string[];
}

/** Typed access to tree and commit objects, with a cache: trees are immutable. */
export class ObjectStore {
  private trees = new Map<string, Tree>();
  private commits = new Map<string, Commit>();
  /** Parts read or written, by their first entry: an unchanged part is recognised by
   * identity of its entries (updateTree keeps untouched entry objects) and not re-encoded. */
  private partsByFirst = new WeakMap<TreeEntry, { id: string; entries: TreeEntry[] }>();
  /** The entries of each part of a cached partitioned tree, in order: editTree works on these. */
  private partLists = new WeakMap<Tree, TreeEntry[][]>();

  constructor(readonly blobs: BlobStore) {}

  async readTree(id: string): Promise<Tree> {
    let t = this.trees.get(id);
    if (!t) {
      ops.treesRead++;
      const doc = parse<StoredTree>(await this.blobs.get(id), 'tree', id);
      if (Array.isArray(doc.parts) && doc.entries === undefined) {
        if (!doc.parts.every((p) => typeof p === 'string' && ID_RE.test(p))) throw new CorruptionError(`tree ${id} is malformed`);
        const data = await this.blobs.getMany(doc.parts.map((p) => Buffer.from(p, 'hex')));
        const lists: TreeEntry[][] = [];
        for (const [i, pid] of doc.parts.entries()) {
          const part = await this.decodeEntries(parse<StoredTree>(data[i]!, 'tree', pid), pid);
          // Never written; editTree locates entries by each part's first one.
          if (!part.length) throw new CorruptionError(`tree ${id} is malformed`);
          this.remember(pid, part);
          lists.push(part);
        }
        t = this.partitioned(doc.parts, lists);
      } else {
        t = { entries: await this.decodeEntries(doc, id) };
      }
      this.trees.set(id, t);
    }
    return t;
  }

  /** The entry of a tree with this sort key (a file's name, a directory's name + '/'),
   * by binary search: a lookup in a large directory costs no map of all its entries. */
  async findEntry(treeId: string, key: string): Promise<TreeEntry | undefined> {
    const { entries } = await this.readTree(treeId);
    const i = indexOfKey(entries, key);
    return i >= 0 ? entries[i] : undefined;
  }

  private partitioned(parts: string[], lists: TreeEntry[][]): Tree {
    const t = { entries: ([] as TreeEntry[]).concat(...lists), parts };
    this.partLists.set(t, lists);
    return t;
  }

  private async decodeEntries(doc: StoredTree, id: string): Promise<TreeEntry[]> {
    if (!Array.isArray(doc.entries)) throw new CorruptionError(`tree ${id} is malformed`);
    for (const e of doc.entries) {
      if (e.type === 'file' && e.list) e.chunks = decodeChunkList(await this.blobs.get(e.list), e.list);
    }
    return doc.entries;
  }

  private remember(id: string, entries: TreeEntry[]): void {
    if (entries.length) this.partsByFirst.set(entries[0]!, { id, entries });
  }

  /** Drops a tree from the cache (a streamed first add writes each one once and moves on). */
  uncache(id: string): void {
    this.trees.delete(id);
  }

  async readCommit(id: string): Promise<Commit> {
    let c = this.commits.get(id);
    if (!c) {
      c = parse<Commit>(await this.blobs.get(id), 'commit', id);
      if (typeof c.tree !== 'string' || !Array.isArray(c.parents)) throw new CorruptionError(`commit ${id} is malformed`);
      this.commits.set(id, c);
    }
    return c;
  }

  async writeTree(tree: Tree): Promise<string> {
    const sorted = [...tree.entries].sort(compareEntries);
    if (sorted.length <= PARTS_ABOVE) return this.writeEntries(sorted);
    const lists = splitParts(sorted);
    const parts: string[] = [];
    for (const part of lists) parts.push(await this.writePart(part));
    return this.writeIndex(parts, lists);
  }

  /**
   * Applies edits to one directory (null: empty) and writes it; null when it ends up empty.
   * Edits are keyed by sort key (a file's name, a directory's name + '/'; null deletes that
   * entry), so a file and a directory of one name are distinct entries, as in buildTree.
   * In a partitioned directory only the parts holding an edit are rebuilt: the result is
   * the tree writeTree would give for all entries, at the cost of those parts.
   */
  async editTree(treeId: string | null, edits: Map<string, TreeEntry | null>): Promise<string | null> {
    if (!edits.size) return treeId;
    const t = treeId ? await this.readTree(treeId) : { entries: [] };
    const lists = this.partLists.get(t);
    if (!lists) {
      const byKey = new Map(t.entries.map((e) => [entrySortKey(e), e]));
      for (const [key, e] of edits) { if (e) byKey.set(key, e); else byKey.delete(key); }
      return byKey.size ? this.writeTree({ entries: [...byKey.values()] }) : null;
    }
    // Each edit goes to the last part starting at or before its key (the first part for
    // keys before all): deleting from there finds the entry, inserting keeps order.
    const byPart = new Map<number, Map<string, TreeEntry | null>>();
    let count = t.entries.length;
    for (const [key, e] of edits) {
      const p = Math.max(0, partitionPoint(0, lists.length, (i) => entrySortKey(lists[i]![0]!) <= key) - 1);
      const had = indexOfKey(lists[p]!, key) >= 0;
      if (!had && !e) continue;
      count += (e ? 1 : 0) - (had ? 1 : 0);
      if (!byPart.has(p)) byPart.set(p, new Map());
      byPart.get(p)!.set(key, e);
    }
    const edited = (i: number): TreeEntry[] => {
      const mine = byPart.get(i);
      if (!mine) return lists[i]!;
      const kept = lists[i]!.filter((e) => !mine.has(entrySortKey(e)));
      for (const e of mine.values()) if (e) kept.push(e);
      return kept.sort(compareEntries);
    };
    if (count <= PARTS_ABOVE) {
      const all = lists.flatMap((_, i) => edited(i));
      return all.length ? this.writeEntries(all) : null;
    }
    const parts: string[] = [];
    const out: TreeEntry[][] = [];
    for (let i = 0; i < lists.length;) {
      if (!byPart.has(i)) {
        parts.push(t.parts![i]!);
        out.push(lists[i++]!);
        continue;
      }
      // A part starts where the full split would cut (induction from the first part), so
      // re-splitting from here up to the next entry that always ends a part gives the full
      // split's parts. That may take in following parts: when the edits removed the last
      // entry, added after it, or the part was ended by PART_MAX rather than by its entry.
      let run: TreeEntry[] = [];
      do run = run.concat(edited(i++));
      while (i < lists.length && run.length > 0 && !endsPart(run[run.length - 1]!));
      for (const part of splitParts(run)) {
        parts.push(await this.writePart(part));
        out.push(part);
      }
    }
    return this.writeIndex(parts, out);
  }

  /** Writes one part of a partitioned directory, unless it is a part read or written before. */
  private async writePart(part: TreeEntry[]): Promise<string> {
    const known = this.partsByFirst.get(part[0]!);
    const same = known && known.entries.length === part.length && known.entries.every((e, i) => e === part[i]);
    return same ? known.id : this.writeEntries(part);
  }

  private async writeIndex(parts: string[], lists: TreeEntry[][]): Promise<string> {
    ops.treesWritten++;
    const id = (await this.blobs.put(BlobType.Tree, Buffer.from(JSON.stringify({ parts }), 'utf8'))).toString('hex');
    this.trees.set(id, this.partitioned(parts, lists));
    return id;
  }

  /** Writes sorted entries as one tree object (a whole small directory or one part). */
  private async writeEntries(sorted: TreeEntry[]): Promise<string> {
    const lists = new Map<TreeEntry, string>();
    for (const e of sorted) {
      if (e.type === 'file' && e.chunks.length > INLINE_CHUNKS) {
        lists.set(e, (await this.blobs.put(BlobType.ChunkList, encodeChunkList(e.chunks))).toString('hex'));
      }
    }
    ops.treesWritten++;
    const id = (await this.blobs.put(BlobType.Tree, encodeTree({ entries: sorted }, lists))).toString('hex');
    // Cached as stored (sorted): walks rely on the order to yield S3 key order.
    this.trees.set(id, { entries: sorted });
    this.remember(id, sorted);
    return id;
  }

  async writeCommit(c: Commit): Promise<string> {
    const id = (await this.blobs.put(BlobType.Commit, encodeCommit(c))).toString('hex');
    this.commits.set(id, c);
    return id;
  }

  isCommit(id: string): boolean {
    return this.blobs.locate(Buffer.from(id, 'hex'))?.type === BlobType.Commit;
  }
}

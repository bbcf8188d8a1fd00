// Canonical encodings of trees and commits. Keys are written in a fixed order and
// without whitespace, so equal content always hashes to the same id.
import { BlobType } from '../store/packfile.js';
import type { BlobStore } from '../store/blobstore.js';
import { CorruptionError } from '../store/errors.js';
import type { ChunkRef, Commit, Tree, TreeEntry } from './types.js';

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
    return list
      ? { name: e.name, type: 'file', mode: e.mode, size: e.size, hash: e.hash, list }
      : { name: e.name, type: 'file', mode: e.mode, size: e.size, hash: e.hash, chunks: e.chunks };
  });
  return Buffer.from(JSON.stringify({ entries }), 'utf8');
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

/** Typed access to tree and commit objects, with a cache: trees are immutable. */
export class ObjectStore {
  private trees = new Map<string, Tree>();
  private commits = new Map<string, Commit>();

  constructor(readonly blobs: BlobStore) {}

  async readTree(id: string): Promise<Tree> {
    let t = this.trees.get(id);
    if (!t) {
      t = parse<Tree>(await this.blobs.get(id), 'tree', id);
      if (!Array.isArray(t.entries)) throw new CorruptionError(`tree ${id} is malformed`);
      for (const e of t.entries) {
        if (e.type === 'file' && e.list) e.chunks = decodeChunkList(await this.blobs.get(e.list), e.list);
      }
      this.trees.set(id, t);
    }
    return t;
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
    const lists = new Map<TreeEntry, string>();
    for (const e of tree.entries) {
      if (e.type === 'file' && e.chunks.length > INLINE_CHUNKS) {
        lists.set(e, (await this.blobs.put(BlobType.ChunkList, encodeChunkList(e.chunks))).toString('hex'));
      }
    }
    const id = (await this.blobs.put(BlobType.Tree, encodeTree(tree, lists))).toString('hex');
    // Cached as stored (sorted): walks rely on the order to yield S3 key order.
    this.trees.set(id, { entries: [...tree.entries].sort(compareEntries) });
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

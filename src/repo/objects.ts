// Canonical encodings of trees and commits. Keys are written in a fixed order and
// without whitespace, so equal content always hashes to the same id.
import { BlobType } from '../store/packfile.js';
import type { BlobStore } from '../store/blobstore.js';
import { CorruptionError } from '../store/errors.js';
import type { Commit, Tree, TreeEntry } from './types.js';

/** Directories sort as `name/` so that a depth-first walk yields S3 key order. */
export function entrySortKey(e: TreeEntry): string {
  return e.type === 'dir' ? `${e.name}/` : e.name;
}

export function compareEntries(a: TreeEntry, b: TreeEntry): number {
  const ka = entrySortKey(a);
  const kb = entrySortKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export function encodeTree(tree: Tree): Buffer {
  const entries = [...tree.entries].sort(compareEntries).map((e) =>
    e.type === 'dir'
      ? { name: e.name, type: 'dir', tree: e.tree }
      : { name: e.name, type: 'file', mode: e.mode, size: e.size, hash: e.hash, chunks: e.chunks },
  );
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
    const id = (await this.blobs.put(BlobType.Tree, encodeTree(tree))).toString('hex');
    this.trees.set(id, tree);
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

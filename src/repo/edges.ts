// The object graph's edges, read from an object's stored bytes: the one definition
// that local gc (reachable.ts) and remote gc (remote/mark.ts) both walk.
//   commit     -> its tree and parents
//   tree       -> its parts (a large directory), subtrees, chunk-list blobs and chunks
//   chunk list -> chunks
//   chunk, log -> nothing
//   anything else (run records, run-cache entries, pipeline state) -> every object id
//              it mentions that `exists` says is stored (they name outputs, logs, states)
import { CorruptionError } from '../store/errors.js';
import { BlobType } from '../store/packfile.js';
import { decodeChunkList } from './objects.js';
import type { Commit } from './types.js';

const ID_RE = /\b[0-9a-f]{64}\b/g;

export interface Edges {
  children: string[];
  /** Checksums of the files a tree names directly. */
  fileHashes: string[];
  /** The pipeline run that made a commit. */
  run: string | null;
}

interface StoredEntry {
  type: 'file' | 'dir';
  tree?: string;
  hash?: string;
  list?: string;
  chunks?: [string, number][];
}

function json<T>(data: Buffer, id: string, what: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch {
    throw new CorruptionError(`${what} ${id} cannot be decoded`);
  }
}

/** Whether objects of this type can have edges (a chunk's bytes need not be read). */
export const hasEdges = (type: BlobType): boolean => type !== BlobType.Chunk && type !== BlobType.Log;

export function edgesOf(type: BlobType, data: Buffer, id: string, exists: (id: string) => boolean): Edges {
  const out: Edges = { children: [], fileHashes: [], run: null };
  if (type === BlobType.Commit) {
    const c = json<Commit>(data, id, 'commit');
    if (typeof c.tree !== 'string' || !Array.isArray(c.parents)) throw new CorruptionError(`commit ${id} is malformed`);
    out.children.push(c.tree, ...c.parents);
    out.run = c.run ?? null;
  } else if (type === BlobType.Tree) {
    const t = json<{ parts?: string[]; entries?: StoredEntry[] }>(data, id, 'tree');
    if (t.parts) out.children.push(...t.parts);
    for (const e of t.entries ?? []) {
      if (e.type === 'dir') { out.children.push(e.tree!); continue; }
      out.fileHashes.push(e.hash!);
      if (e.list) out.children.push(e.list);
      for (const [c] of e.chunks ?? []) out.children.push(c);
    }
  } else if (type === BlobType.ChunkList) {
    out.children.push(...decodeChunkList(data, id).map(([c]) => c));
  } else if (hasEdges(type)) {
    for (const ref of data.toString('utf8').match(ID_RE) ?? []) if (ref !== id && exists(ref)) out.children.push(ref);
  }
  return out;
}

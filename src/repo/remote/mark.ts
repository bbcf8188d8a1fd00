// Reachability on a remote, for remote gc: the pack tables (local copies where we
// have the same pack, else two ranged GETs each) say where every object lives; the
// walk from the remote's refs reads commits and trees from the local store when it
// has them and by ranged GET otherwise, verifying each against its id.
import fs from 'node:fs';
import { CorruptionError } from '../../store/errors.js';
import { blake3 } from '../../store/hash.js';
import { BlobType, readTable, readTableFromFile, type PackEntry } from '../../store/packfile.js';
import { packPath } from '../../store/packwriter.js';
import { pool } from '../../store/pool.js';
import { edgesOf, hasEdges } from '../edges.js';
import type { Repo } from '../repo.js';
import { packKey } from './layout.js';
import type { Remote, RemotePack } from './remote.js';

export interface RemoteBlob {
  pack: string;
  type: BlobType;
  offset: number;
  length: number;
}

export async function readRemoteTables(repo: Repo, remote: Remote, packs: RemotePack[],
  onPack?: () => void): Promise<Map<string, PackEntry[]>> {
  const tables = await pool(packs, remote.jobs, async (p) => {
    const local = packPath(repo.blobs.packsDir, p.id);
    const t = await (fs.statSync(local, { throwIfNoEntry: false })?.size === p.size
      ? readTableFromFile(local, p.id)
      : readTable(p.id, p.size, (offset, length) => remote.backend.getRange(packKey(p.id), offset, length))
    ).catch((e: Error) => {
      // Its objects cannot be accounted for, so nothing can be called dead.
      throw e instanceof CorruptionError ? new CorruptionError(`remote ${e.message} (at ${remote.url}); deleting nothing`) : e;
    });
    onPack?.();
    return t;
  });
  return new Map(packs.map((p, i) => [p.id, tables[i]]));
}

export function indexTables(tables: Map<string, PackEntry[]>): Map<string, RemoteBlob> {
  const index = new Map<string, RemoteBlob>();
  for (const [pack, entries] of tables) {
    for (const e of entries) index.set(e.id.toString('hex'), { pack, type: e.type, offset: e.offset, length: e.length });
  }
  return index;
}

/** Live object ids from `roots` (ref targets) plus every run record and run-cache
 * entry (shared through the remote, so they are roots there as locally). */
export async function markRemote(repo: Repo, remote: Remote, index: Map<string, RemoteBlob>, roots: string[]):
  Promise<{ live: Set<string>; broken: Map<string, string> }> {
  const live = new Set<string>();
  const broken = new Map<string, string>();
  const stack: [string, string][] = roots.map((r) => [r, 'a remote ref']);
  for (const [id, b] of index) if (b.type === BlobType.RunRecord || b.type === BlobType.RunCache) stack.push([id, 'root']);

  const read = async (id: string, b: RemoteBlob): Promise<Buffer> => {
    const key = Buffer.from(id, 'hex');
    if (repo.blobs.has(key)) return repo.blobs.get(key);
    const data = await remote.backend.getRange(packKey(b.pack), b.offset, b.length);
    if (!blake3(data).equals(key)) throw new CorruptionError(`object ${id} in remote pack ${b.pack} is corrupt`);
    return data;
  };
  const visit = async (id: string, from: string): Promise<[string, string][]> => {
    const b = index.get(id);
    if (!b) { broken.set(id, from); return []; }
    if (!hasEdges(b.type)) return [];
    try {
      const by = `${BlobType[b.type]?.toLowerCase() ?? 'object'} ${id}`;
      return edgesOf(b.type, await read(id, b), id, (r) => index.has(r)).children.map((c): [string, string] => [c, by]);
    } catch (e) {
      broken.set(id, `${from} (${(e as Error).message})`);
      return [];
    }
  };
  // Breadth in batches: each object read may be a network round trip.
  while (stack.length) {
    const batch: [string, string][] = [];
    while (stack.length && batch.length < remote.jobs * 4) {
      const item = stack.pop()!;
      if (live.has(item[0])) continue;
      live.add(item[0]);
      batch.push(item);
    }
    for (const children of await Promise.all(batch.map(([id, from]) => visit(id, from)))) {
      for (const c of children) if (!live.has(c[0])) stack.push(c);
    }
  }
  return { live, broken };
}

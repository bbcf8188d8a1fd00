// Marks every object reachable from a set of roots: commits -> parents and trees,
// trees -> parts, subtrees and chunks, run records -> every object id they mention.
import { BlobType } from '../store/packfile.js';
import type { Repo } from './repo.js';

const ID_RE = /\b[0-9a-f]{64}\b/g;

/** Roots: refs, HEAD and pipeline records (types 4 and 5). */
export function rootIds(repo: Repo): string[] {
  return [...new Set([...refRoots(repo), ...blobsOfType(repo, BlobType.RunRecord, BlobType.RunCache)])];
}

/** The commits refs and HEAD point at. */
export function refRoots(repo: Repo): string[] {
  const roots = new Set<string>(repo.refs.list().map((r) => r.target));
  const head = repo.headCommit();
  if (head) roots.add(head);
  return [...roots];
}

/** Ids of every stored blob of the given types. */
export function blobsOfType(repo: Repo, ...types: BlobType[]): string[] {
  const ids = repo.db.prepare(`SELECT id FROM blobs WHERE type IN (${types.map(() => '?').join(', ')})`).pluck().all(...types) as Buffer[];
  return ids.map((id) => id.toString('hex'));
}

export interface MarkResult {
  live: Set<string>;
  /** Objects referenced but missing or unreadable, with who referenced them. */
  broken: Map<string, string>;
  /** Checksums of every reachable file. */
  fileHashes: Set<string>;
  /** Run ids of reachable commits made by a pipeline run. */
  runs: Set<string>;
}

/** With `prev`, extends that result in place: only what the new roots add is walked. */
export async function markReachable(repo: Repo, roots: string[], prev?: MarkResult): Promise<MarkResult> {
  const m: MarkResult = prev ?? { live: new Set(), broken: new Map(), fileHashes: new Set(), runs: new Set() };
  const { live, broken, fileHashes, runs } = m;
  const stack: [string, string][] = roots.map((r) => [r, 'root']);
  while (stack.length) {
    const [id, from] = stack.pop()!;
    if (live.has(id)) continue;
    live.add(id);
    const loc = repo.blobs.locate(Buffer.from(id, 'hex'));
    if (!loc) { broken.set(id, from); continue; }
    if (loc.type === BlobType.Chunk || loc.type === BlobType.Log || loc.type === BlobType.ChunkList) continue;
    try {
      if (loc.type === BlobType.Commit) {
        const c = await repo.readCommit(id);
        if (c.run) runs.add(c.run);
        stack.push([c.tree, `commit ${id}`]);
        for (const p of c.parents) stack.push([p, `commit ${id}`]);
      } else if (loc.type === BlobType.Tree) {
        const tree = await repo.readTree(id);
        for (const part of tree.parts ?? []) live.add(part); // their entries are the tree's, walked here
        for (const e of tree.entries) {
          if (e.type === 'dir') stack.push([e.tree, `tree ${id}`]);
          else {
            fileHashes.add(e.hash);
            if (e.list) stack.push([e.list, `tree ${id}`]);
            for (const [chunk] of e.chunks) if (!live.has(chunk)) stack.push([chunk, `tree ${id}`]);
          }
        }
      } else {
        const text = (await repo.blobs.get(id)).toString('utf8');
        for (const ref of text.match(ID_RE) ?? []) {
          if (ref !== id && repo.blobs.locate(Buffer.from(ref, 'hex'))) stack.push([ref, `record ${id}`]);
        }
      }
    } catch {
      broken.set(id, from);
    }
  }
  return m;
}

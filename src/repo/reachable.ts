// What gc must keep: the roots (by kind) and everything reachable from them along the
// object graph's edges (edges.ts). The roots are the one list of what can still be
// asked for: every branch, tag and remote-tracking ref, HEAD, every position a branch
// or HEAD held within the reflog's expiry, every data version a dv.lock names in the
// enclosing git repository's history, and pipeline records (runs and run-cache).
import { BlobType } from '../store/packfile.js';
import { edgesOf, hasEdges } from './edges.js';
import { gitLockedCommits } from './git.js';
import type { Repo } from './repo.js';

const DEFAULT_REFLOG_EXPIRE_DAYS = 30;

export interface GcRoots {
  refs: string[];
  head: string[];
  reflog: string[];
  /** Named by a dv.lock in git history (or git's index, or the working tree). */
  git: string[];
  /** Run records and run-cache entries. */
  pipeline: string[];
}

/** The commits a user can still name: refs, HEAD, the reflog, and dv.lock files in git history. */
export async function historyRoots(repo: Repo, now = Date.now()): Promise<Omit<GcRoots, 'pipeline'>> {
  const head = repo.headCommit();
  const since = new Date(now - reflogExpireMs(repo)).toISOString();
  const reflog = repo.refs.reflogCommitsSince(since).filter((id) => repo.objects.isCommit(id));
  return {
    refs: [...new Set(repo.refs.list().map((r) => r.target))],
    head: head ? [head] : [],
    reflog,
    git: (await gitLockedCommits(repo)).filter((id) => repo.objects.isCommit(id)),
  };
}

export async function gcRoots(repo: Repo, now = Date.now()): Promise<GcRoots> {
  return { ...(await historyRoots(repo, now)), pipeline: repo.blobs.idsOfType(BlobType.RunRecord, BlobType.RunCache) };
}

/** Every root id, of every kind. */
export async function rootIds(repo: Repo): Promise<string[]> {
  return rootList(await gcRoots(repo));
}

export function rootList(roots: Partial<GcRoots>): string[] {
  return [...new Set(Object.values(roots).flat())];
}

/** The reflog's expiry in days: `reflogExpireDays` in .dv/config.json, else 30. */
export function reflogExpireDays(repo: Repo): number {
  const days = repo.config.reflogExpireDays;
  return typeof days === 'number' && days >= 0 ? days : DEFAULT_REFLOG_EXPIRE_DAYS;
}

export function reflogExpireMs(repo: Repo): number {
  return reflogExpireDays(repo) * 86_400_000;
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
  const exists = (id: string) => repo.blobs.locate(Buffer.from(id, 'hex')) !== undefined;
  const stack: [string, string][] = roots.map((r) => [r, 'root']);
  while (stack.length) {
    const [id, from] = stack.pop()!;
    if (live.has(id)) continue;
    live.add(id);
    const loc = repo.blobs.locate(Buffer.from(id, 'hex'));
    if (!loc) { broken.set(id, from); continue; }
    if (!hasEdges(loc.type)) continue;
    try {
      const e = edgesOf(loc.type, await repo.blobs.get(id), id, exists);
      if (e.run) runs.add(e.run);
      for (const h of e.fileHashes) fileHashes.add(h);
      const by = `${BlobType[loc.type]?.toLowerCase() ?? 'object'} ${id}`;
      for (const c of e.children) if (!live.has(c)) stack.push([c, by]);
    } catch {
      broken.set(id, from);
    }
  }
  return m;
}

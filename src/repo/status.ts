// dv status and dv diff against the workspace.
import type { Repo } from './repo.js';
import { isUnder } from './paths.js';
import { readMergeState, type MergeState } from './merge-state.js';
import { diffFlat, diffTrees, type Change, type FlatTree } from './trees.js';
import { chunksAfter, diffAgainstMirror, isClean } from './mirror-diff.js';
import { scanDetailed } from './scan.js';
import { scanWorkspace, StatCache, workspaceHashes, type WsFile } from './workspace.js';

export interface StatusResult {
  branch: string | null;
  commit: string | null;
  tracked: string[];
  added: string[];
  modified: string[];
  deleted: string[];
  /** A merge stopped on conflicts and being resolved (merge.ts), else null. */
  merge: MergeState | null;
}

/** The workspace as a flat tree of (hash, mode); chunk lists are left empty. */
export async function workspaceTree(repo: Repo, tracked: string[], cache = new StatCache(repo.db), scanned?: WsFile[]): Promise<FlatTree> {
  scanned ??= await scanWorkspace(repo.root, tracked, cache.size);
  const hashes = await workspaceHashes(repo.root, scanned, cache);
  const out: FlatTree = new Map();
  for (const f of scanned) {
    out.set(f.path, { name: f.path, type: 'file', mode: f.mode, size: f.size, hash: hashes.get(f.path)!, chunks: [] });
  }
  return out;
}

export async function trackedPaths(repo: Repo): Promise<string[]> {
  const head = repo.headCommit();
  return head ? (await repo.readCommit(head)).paths : [];
}

export async function status(repo: Repo, paths?: string[]): Promise<StatusResult> {
  const { branch, commit } = repo.head();
  const all = await trackedPaths(repo);
  const tracked = paths?.length ? narrow(all, paths) : all;
  const cache = new StatCache(repo.db);
  const scan = await scanDetailed(repo.root, tracked, cache.size);
  const result: StatusResult = { branch, commit, tracked, added: [], modified: [], deleted: [], merge: readMergeState(repo) };
  // Fast paths: the cache mirrors HEAD and every file is unchanged since it was recorded,
  // known from the scan's fingerprint; else the changes, from one cache lookup per file.
  if (commit && !paths?.length) {
    const tree = (await repo.readCommit(commit)).tree;
    if (cache.unchangedSince(tree, scan)) return result;
    if (cache.mirrors(tree)) {
      const d = await diffAgainstMirror(repo.root, cache, scan);
      result.added = d.added.map((f) => f.path);
      result.modified = d.modified.map((f) => f.path);
      result.deleted = d.deleted;
      const clean = isClean(d);
      const refreshed = new Set(d.refreshed.map((r) => r.file));
      const marks = chunksAfter(d, (f) => refreshed.has(f));
      updateCache(repo, cache, () => {
        // A racy file just read could change again unseen within its mtime tick.
        if (cache.record(d.refreshed) === 0 && clean) cache.rememberScan(scan);
        cache.setChunks(marks);
      });
      return result;
    }
  }
  const scanned = scan.files();
  const head = new Map([...(await repo.flatten(commit))].filter(([p]) => tracked.some((t) => isUnder(p, t))));
  const ws = await workspaceTree(repo, tracked, cache, scanned);
  const changes = diffFlat(head, ws);
  for (const c of changes) result[c.status].push(c.path);
  if (!paths?.length && commit) {
    const cleanTree = changes.length ? null : (await repo.readCommit(commit)).tree;
    const fresh = scanned.filter((f) => cache.hashOf(f) === null && head.get(f.path)?.hash === ws.get(f.path)!.hash);
    if (fresh.length) updateCache(repo, cache, () => {
      cache.record(fresh.map((f) => ({ file: f, hash: ws.get(f.path)!.hash })));
      if (cleanTree) { cache.mirrorIfComplete(cleanTree, head); cache.rememberScan(scan); }
    });
  }
  return result;
}

/** Tracked paths narrowed to the given ones (a path inside a tracked dir, or a tracked path inside a given dir). */
function narrow(tracked: string[], paths: string[]): string[] {
  const out = new Set<string>();
  for (const t of tracked) for (const p of paths) {
    if (isUnder(t, p)) out.add(t);
    else if (isUnder(p, t)) out.add(p);
  }
  return [...out].sort();
}

/**
 * Files just hashed that match HEAD hold stored content: status records them (as git's
 * status refreshes its index) so the next one need not read them. Skipped while another
 * dv process holds the lock; the cache is only an optimisation.
 */
function updateCache(repo: Repo, cache: StatCache, change: () => void): void {
  if (repo.isLocked()) return;
  try {
    repo.db.transaction(() => {
      change();
      cache.save();
    })();
  } catch {
    // SQLITE_BUSY under a concurrent writer: leave the cache as it was.
  }
}

/** dv diff: A..B between commits, or A against the workspace when B is omitted. */
export async function diff(repo: Repo, a?: string, b?: string): Promise<Change[]> {
  const from = await repo.resolve(a ?? 'HEAD');
  if (b !== undefined) {
    const to = await repo.resolve(b);
    return diffTrees(repo.objects, (await repo.readCommit(from)).tree, (await repo.readCommit(to)).tree);
  }
  const tracked = await trackedPaths(repo);
  return diffFlat(await repo.flatten(from), await workspaceTree(repo, tracked));
}

// dv status and dv diff against the workspace.
import type { Repo } from './repo.js';
import { isUnder } from './snapshot.js';
import { diffFlat, diffTrees, type Change, type FlatTree } from './trees.js';
import { scanWorkspace, StatCache, workspaceHashes } from './workspace.js';

export interface StatusResult {
  branch: string | null;
  commit: string | null;
  tracked: string[];
  added: string[];
  modified: string[];
  deleted: string[];
}

/** The workspace as a flat tree of (hash, mode); chunk lists are left empty. */
export async function workspaceTree(repo: Repo, tracked: string[]): Promise<FlatTree> {
  const files = scanWorkspace(repo.root, tracked);
  const hashes = await workspaceHashes(repo.root, files, new StatCache(repo.db));
  const out: FlatTree = new Map();
  for (const f of files) {
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
  let tracked = await trackedPaths(repo);
  if (paths?.length) tracked = tracked.filter((t) => paths.some((p) => isUnder(t, p) || isUnder(p, t)))
    .map((t) => paths.find((p) => isUnder(p, t) && p !== t) ?? t);
  const head = new Map([...(await repo.flatten(commit))].filter(([p]) => tracked.some((t) => isUnder(p, t))));
  const changes = diffFlat(head, await workspaceTree(repo, tracked));
  const pick = (s: Change['status']) => changes.filter((c) => c.status === s).map((c) => c.path);
  return { branch, commit, tracked, added: pick('added'), modified: pick('modified'), deleted: pick('deleted') };
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

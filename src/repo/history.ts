// dv log, dv branch, dv tag.
import { DvError } from '../store/errors.js';
import type { Repo } from './repo.js';
import { checkRefName } from './refs.js';
import { assertMayMove, listProtected, localActor } from './protect.js';
import { diffTrees } from './trees.js';
import { isAncestorOf } from './graph.js';
import type { Commit } from './types.js';

export interface LogEntry {
  id: string;
  parents: string[];
  message: string;
  author: string;
  time: string;
  git: Commit['git'];
  run: string | null;
  /** Audit: the identity and access key that made the commit (runs, dv serve), else null. */
  identity: string | null;
  key: string | null;
  counts: { added: number; modified: number; deleted: number };
}

/**
 * Commits reachable from REF (default HEAD), newest first, every parent of a merge
 * included (as git log); counts are against the first parent.
 */
export async function log(repo: Repo, opts: { ref?: string; limit?: number } = {}): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  if (!opts.ref && !repo.headCommit()) return out;
  const queue: { id: string; time: number }[] = [];
  const queued = new Set<string>();
  const push = async (id: string) => {
    if (queued.has(id) || !repo.objects.isCommit(id)) return;
    queued.add(id);
    queue.push({ id, time: Date.parse((await repo.readCommit(id)).time) });
    queue.sort((a, b) => a.time - b.time);
  };
  await push(await repo.resolve(opts.ref ?? 'HEAD'));
  while (queue.length && (opts.limit === undefined || out.length < opts.limit)) {
    const { id } = queue.pop()!;
    const c = await repo.readCommit(id);
    const parentTree = c.parents[0] ? (await repo.readCommit(c.parents[0])).tree : null;
    const changes = await diffTrees(repo.objects, parentTree, c.tree);
    const counts = { added: 0, modified: 0, deleted: 0 };
    for (const ch of changes) counts[ch.status]++;
    out.push({ id, parents: c.parents, message: c.message, author: c.author, time: c.time, git: c.git, run: c.run, identity: c.identity ?? null, key: c.key ?? null, counts });
    for (const p of c.parents) await push(p);
  }
  return out;
}

export interface RefInfo {
  name: string;
  commit: string;
  current?: boolean;
  /** Protected branches only (dv branch protect): who may move it. */
  protected?: { allow: string[] };
}

export function listBranches(repo: Repo): RefInfo[] {
  const current = repo.head().branch;
  const prot = new Map(listProtected(repo).map((p) => [p.branch, p]));
  return repo.refs.list('heads/').map((r) => {
    const name = r.name.slice(6);
    const p = prot.get(name);
    return { name, commit: r.target, current: name === current, ...(p ? { protected: { allow: p.allow } } : {}) };
  });
}

export function listTags(repo: Repo): RefInfo[] {
  return repo.refs.list('tags/').map((r) => ({ name: r.name.slice(5), commit: r.target }));
}

export async function createBranch(repo: Repo, name: string, start?: string): Promise<RefInfo> {
  checkRefName(name, 'branch');
  return repo.withLock('branch', async () => {
    if (repo.refs.get(`heads/${name}`)) throw new DvError(`branch '${name}' already exists`);
    const commit = await repo.resolve(start ?? 'HEAD');
    repo.refs.set(`heads/${name}`, commit, `branch: created from ${start ?? 'HEAD'}`);
    return { name, commit };
  });
}

/**
 * dv branch -d: refuses a branch whose tip HEAD does not contain (its commits would be
 * left to the reflog), unless `force` (-D). Returns the tip, so it can be got back.
 */
export async function deleteBranch(repo: Repo, name: string, force = false): Promise<RefInfo> {
  return repo.withLock('branch', async () => {
    if (repo.head().branch === name) throw new DvError(`cannot delete the checked-out branch '${name}'`);
    assertMayMove(repo, name, localActor());
    const tip = repo.refs.get(`heads/${name}`);
    if (!tip) throw new DvError(`branch '${name}' not found`);
    const head = repo.headCommit();
    if (!force && !(head && await isAncestorOf(repo, tip, head))) {
      throw new DvError(`branch '${name}' is not fully merged: HEAD does not contain its tip ${tip.slice(0, 12)}; `
        + `'dv merge ${name}' first, or 'dv branch -D ${name}' to delete it anyway`);
    }
    repo.refs.delete(`heads/${name}`, 'branch: deleted');
    return { name, commit: tip };
  });
}

export async function createTag(repo: Repo, name: string, ref?: string, force = false): Promise<RefInfo> {
  checkRefName(name, 'tag');
  return repo.withLock('tag', async () => {
    if (repo.refs.get(`tags/${name}`) && !force) throw new DvError(`tag '${name}' already exists`);
    const commit = await repo.resolve(ref ?? 'HEAD');
    repo.refs.set(`tags/${name}`, commit, 'tag');
    return { name, commit };
  });
}

export async function deleteTag(repo: Repo, name: string): Promise<void> {
  await repo.withLock('tag', () => {
    if (!repo.refs.delete(`tags/${name}`)) throw new DvError(`tag '${name}' not found`);
  });
}

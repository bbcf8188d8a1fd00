// dv log, dv branch, dv tag.
import { DvError } from '../store/errors.js';
import type { Repo } from './repo.js';
import { checkRefName } from './refs.js';
import { diffTrees } from './trees.js';
import type { Commit } from './types.js';

export interface LogEntry {
  id: string;
  parents: string[];
  message: string;
  author: string;
  time: string;
  git: Commit['git'];
  run: string | null;
  counts: { added: number; modified: number; deleted: number };
}

export async function log(repo: Repo, opts: { ref?: string; limit?: number } = {}): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  if (!opts.ref && !repo.headCommit()) return out;
  let id: string | undefined = await repo.resolve(opts.ref ?? 'HEAD');
  while (id && (opts.limit === undefined || out.length < opts.limit)) {
    const c = await repo.readCommit(id);
    const parentTree = c.parents[0] ? (await repo.readCommit(c.parents[0])).tree : null;
    const changes = await diffTrees(repo.objects, parentTree, c.tree);
    const counts = { added: 0, modified: 0, deleted: 0 };
    for (const ch of changes) counts[ch.status]++;
    out.push({ id, parents: c.parents, message: c.message, author: c.author, time: c.time, git: c.git, run: c.run, counts });
    id = c.parents[0];
  }
  return out;
}

export interface RefInfo {
  name: string;
  commit: string;
  current?: boolean;
}

export function listBranches(repo: Repo): RefInfo[] {
  const current = repo.head().branch;
  return repo.refs.list('heads/').map((r) => ({ name: r.name.slice(6), commit: r.target, current: r.name.slice(6) === current }));
}

export function listTags(repo: Repo): RefInfo[] {
  return repo.refs.list('tags/').map((r) => ({ name: r.name.slice(5), commit: r.target }));
}

export async function createBranch(repo: Repo, name: string, start?: string): Promise<RefInfo> {
  checkRefName(name, 'branch');
  return repo.withLock('branch', async () => {
    if (repo.refs.get(`heads/${name}`)) throw new DvError(`branch '${name}' already exists`);
    const commit = await repo.resolve(start ?? 'HEAD');
    repo.refs.set(`heads/${name}`, commit);
    return { name, commit };
  });
}

export async function deleteBranch(repo: Repo, name: string): Promise<void> {
  await repo.withLock('branch', () => {
    if (repo.head().branch === name) throw new DvError(`cannot delete the checked-out branch '${name}'`);
    if (!repo.refs.delete(`heads/${name}`)) throw new DvError(`branch '${name}' not found`);
  });
}

export async function createTag(repo: Repo, name: string, ref?: string, force = false): Promise<RefInfo> {
  checkRefName(name, 'tag');
  return repo.withLock('tag', async () => {
    if (repo.refs.get(`tags/${name}`) && !force) throw new DvError(`tag '${name}' already exists`);
    const commit = await repo.resolve(ref ?? 'HEAD');
    repo.refs.set(`tags/${name}`, commit);
    return { name, commit };
  });
}

export async function deleteTag(repo: Repo, name: string): Promise<void> {
  await repo.withLock('tag', () => {
    if (!repo.refs.delete(`tags/${name}`)) throw new DvError(`tag '${name}' not found`);
  });
}

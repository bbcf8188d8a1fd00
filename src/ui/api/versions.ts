// /ui/api/refs, /ui/api/log, /ui/api/tree, /ui/api/file: branches and tags, history
// (all parents, so merges show), and a directory listing at any ref, one page at a time.
import type { LogEntry } from '../../repo/history.js';
import type { Repo } from '../../repo/repo.js';
import { diffTrees } from '../../repo/trees.js';
import type { Commit, TreeEntry } from '../../repo/types.js';
import { mayRead, resolveFor } from '../access.js';
import { notFound, pageOf, type Query } from '../http.js';
import type { Principal } from '../session.js';
import { dirPage } from './dirpage.js';
import { previewKind } from './preview.js';

export function refs(repo: Repo, p: Principal): unknown {
  const head = repo.head();
  const list = (prefix: string, kind: 'branch' | 'tag'): { name: string; commit: string; current?: boolean }[] =>
    repo.refs.list(prefix).map((r) => ({ name: r.name.slice(prefix.length), commit: r.target }))
      .filter((r) => mayRead(p, r.name, kind))
      .map((r) => (kind === 'branch' ? { ...r, current: r.name === head.branch } : r));
  return { head: head.branch, branches: list('heads/', 'branch'), tags: list('tags/', 'tag') };
}

/** Audit fields of a commit (the identity a run or proxy write acted as, and its key), null when it has none. */
export interface Who { identity: string | null; key: string | null }
export function whoOf(c: Commit): Who {
  return { identity: c.identity ?? null, key: c.key ?? null };
}

/** Commits reachable from the ref, newest first over every parent; one page. */
export async function history(repo: Repo, p: Principal, q: Query): Promise<unknown> {
  const r = await resolveFor(repo, p, q.str('ref', 'HEAD'));
  const { offset, limit } = q.page(50, 500);
  const seen = new Set<string>([r.commit]);
  const frontier: { id: string; c: Commit }[] = [{ id: r.commit, c: await repo.readCommit(r.commit) }];
  const out: (LogEntry & Who)[] = [];
  let index = 0;
  while (frontier.length && out.length < limit) {
    frontier.sort((a, b) => (a.c.time < b.c.time ? 1 : a.c.time > b.c.time ? -1 : 0));
    const { id, c } = frontier.shift()!;
    for (const parent of c.parents) {
      if (seen.has(parent)) continue;
      seen.add(parent);
      frontier.push({ id: parent, c: await repo.readCommit(parent) });
    }
    if (index++ < offset) continue;
    const parentTree = c.parents[0] ? (await repo.readCommit(c.parents[0])).tree : null;
    const counts = { added: 0, modified: 0, deleted: 0 };
    for (const ch of await diffTrees(repo.objects, parentTree, c.tree)) counts[ch.status]++;
    out.push({ id, parents: c.parents, message: c.message, author: c.author, time: c.time, git: c.git, run: c.run, ...whoOf(c), counts });
  }
  return { ref: r.ref, commit: r.commit, offset, limit, items: out, more: frontier.length > 0 };
}

export const cleanPath = (s: string): string => s.split('/').filter(Boolean).join('/');

function describe(e: TreeEntry): unknown {
  return e.type === 'dir' ? { name: e.name, type: 'dir' }
    : { name: e.name, type: 'file', size: e.size, hash: e.hash, mode: e.mode };
}

/** One page of a directory at a ref (total null until known, see dirpage.ts); `q` keeps
 * the entries whose name contains it (that reads the whole directory). */
export async function tree(repo: Repo, p: Principal, q: Query): Promise<unknown> {
  const r = await resolveFor(repo, p, q.str('ref', 'HEAD'));
  const path = cleanPath(q.str('path', ''));
  const entry = await repo.lookup(r.commit, path);
  if (!entry) throw notFound(`${path} does not exist at ${r.ref}`);
  if (entry.type !== 'dir') throw notFound(`${path} is a file at ${r.ref}`);
  const page = q.page(200, 2000);
  const filter = q.opt('q')?.toLowerCase();
  if (!filter) {
    const d = await dirPage(repo, entry.tree, page.offset, page.limit);
    return { ref: r.ref, commit: r.commit, path, ...page, ...d, items: d.items.map(describe) };
  }
  const list = (await repo.readTree(entry.tree)).entries.filter((e) => e.name.toLowerCase().includes(filter));
  const p2 = pageOf(list, page);
  return { ref: r.ref, commit: r.commit, path, ...p2, more: p2.offset + p2.items.length < p2.total, estimate: p2.total, items: p2.items.map(describe) };
}

/** A file's metadata and how the page may preview it. */
export async function fileInfo(repo: Repo, p: Principal, q: Query, bucket: string): Promise<unknown> {
  const r = await resolveFor(repo, p, q.str('ref', 'HEAD'));
  const path = cleanPath(q.str('path'));
  const e = await repo.lookup(r.commit, path);
  if (!e || e.type !== 'file') throw notFound(`${path} is not a file at ${r.ref}`);
  return {
    ref: r.ref, commit: r.commit, path, size: e.size, hash: e.hash, mode: e.mode, chunks: e.chunks.length,
    preview: previewKind(path), s3: `s3://${bucket}/${r.ref}/${path}`,
  };
}

// dv fsck: the store check (src/store/check.ts: SQLite, every pack byte, every index row)
// plus what only the repository knows: refs and HEAD name commits that exist, every
// commit -> tree -> chunk edge resolves, and which files (in which commits) a damaged
// or missing object takes with it, so the user knows what to re-add or fetch.
import { checkStore, type Problem, type ProblemKind } from '../store/check.js';
import { printable } from '../store/errors.js';
import { BlobType } from '../store/packfile.js';
import { markReachable, reflogExpireMs, rootIds } from './reachable.js';
import type { Repo } from './repo.js';
import { checkRefName } from './refs.js';
import { getMeta } from '../store/db.js';
import { tmpLeftovers } from '../store/maintenance.js';

export type { Problem, ProblemKind };

export interface FsckResult {
  ok: boolean;
  packs: number;
  objects: number;
  /** The error and warning messages, one line each (also in `problems`). */
  errors: string[];
  warnings: string[];
  /** Every problem, grouped by kind (see the README for the kinds). */
  problems: Partial<Record<ProblemKind, Problem[]>>;
}

const ID_RE = /^[0-9a-f]{64}$/;

export async function fsck(repo: Repo, opts: { onProgress?: (done: number, total: number) => void } = {}): Promise<FsckResult> {
  const store = await checkStore(repo.blobs, opts.onProgress);
  const problems = store.problems;
  const bad = store.bad;
  const err = (p: Omit<Problem, 'severity'>) => problems.push({ ...p, severity: 'error' });
  checkRefs(repo, err);
  const tmp = tmpLeftovers(repo.blobs).length;
  if (tmp) problems.push({ kind: 'temp-files', severity: 'warning', message: `${tmp} temporary file(s) in .dv/tmp; dv gc removes those no running dv holds` });

  // Roots not stored at all were reported as refs just above.
  const roots = (await rootIds(repo)).filter((id) => ID_RE.test(id) && repo.blobs.locate(Buffer.from(id, 'hex')));
  const { broken } = await markReachable(repo, roots);
  for (const [id, from] of broken) {
    bad.add(id);
    err({ kind: 'missing-object', object: id, message: `object ${id} referenced by ${from} is missing or unreadable` });
  }
  if (bad.size) {
    problems.push(...await damagedFiles(repo, bad));
    const corrupt = [...bad].filter((id) => !broken.has(id));
    for (const id of corrupt.slice(0, 20)) err({ kind: 'object', object: id, message: `object ${id} is corrupt (hash mismatch, truncated or misplaced)` });
    if (corrupt.length > 20) err({ kind: 'object', message: `${corrupt.length - 20} more corrupt object(s)` });
  }
  return summarise(problems, store.packs, store.objects);
}

export function summarise(list: Problem[], packs: number, objects: number): FsckResult {
  const problems: FsckResult['problems'] = {};
  for (const p of list) (problems[p.kind] ??= []).push(p);
  const errors = list.filter((p) => p.severity === 'error').map((p) => p.message);
  const warnings = list.filter((p) => p.severity === 'warning').map((p) => p.message);
  return { ok: errors.length === 0, packs, objects, errors, warnings, problems };
}

/** Refs and HEAD: well-formed names naming commits that are stored. */
function checkRefs(repo: Repo, err: (p: Omit<Problem, 'severity'>) => void): void {
  const refs = repo.refs.list();
  for (const r of refs) {
    const name = printable(r.name);
    // heads/, tags/, exps/ (experiments) and remotes/<remote>/, then a name git would accept.
    const m = /^(?:heads|tags|exps|remotes\/[^/]+)\/(.+)$/.exec(r.name);
    let valid = m !== null;
    try { checkRefName(m?.[1] ?? r.name, 'ref'); } catch { valid = false; }
    if (!valid) err({ kind: 'ref', ref: name, message: `ref '${name}' has an invalid name` });
    if (!ID_RE.test(r.target)) { err({ kind: 'ref', ref: name, message: `ref '${name}' holds '${printable(r.target)}', not a commit id` }); continue; }
    const loc = repo.blobs.locate(Buffer.from(r.target, 'hex'));
    if (!loc) err({ kind: 'ref', ref: name, message: `ref '${name}' points at ${r.target}, which is not stored (a damaged ref, or its commit was lost)` });
    else if (loc.type !== BlobType.Commit) err({ kind: 'ref', ref: name, message: `ref '${name}' points at ${r.target}, which is not a commit` });
  }
  // Reflog entries within the expiry are gc roots: what they name must be stored.
  const since = new Date(Date.now() - reflogExpireMs(repo)).toISOString();
  for (const id of repo.refs.reflogCommitsSince(since)) {
    if (repo.blobs.locate(Buffer.from(id, 'hex'))?.type !== BlobType.Commit) {
      err({ kind: 'ref', ref: 'reflog', message: `a reflog entry names ${printable(id)}, which is not a stored commit` });
    }
  }
  const head = getMeta(repo.db, 'HEAD') ?? 'ref: heads/main';
  if (head.startsWith('ref: heads/')) {
    const branch = head.slice('ref: heads/'.length);
    const heads = refs.filter((r) => r.name.startsWith('heads/'));
    if (heads.length && !heads.some((r) => r.name === `heads/${branch}`)) {
      err({ kind: 'ref', ref: 'HEAD', message: `HEAD names branch '${printable(branch)}', which does not exist` });
    }
  } else if (!ID_RE.test(head)) err({ kind: 'ref', ref: 'HEAD', message: `HEAD holds '${printable(head)}', neither a branch nor a commit id` });
  else if (repo.blobs.locate(Buffer.from(head, 'hex'))?.type !== BlobType.Commit) {
    err({ kind: 'ref', ref: 'HEAD', message: `HEAD points at ${head}, which is not a stored commit` });
  }
}

/** One problem per file (or directory), in every stored commit, that uses a bad object. */
export async function damagedFiles(repo: Repo, bad: Set<string>): Promise<Problem[]> {
  const out = new Map<string, Problem>();
  // Per tree: its damaged paths (relative; '' = the tree itself), computed once.
  const memo = new Map<string, { path: string; dir: boolean }[]>();
  const visit = async (id: string): Promise<{ path: string; dir: boolean }[]> => {
    const known = memo.get(id);
    if (known) return known;
    const found: { path: string; dir: boolean }[] = [];
    memo.set(id, found);
    let entries;
    try {
      if (bad.has(id)) throw new Error('damaged');
      entries = (await repo.readTree(id)).entries;
    } catch {
      found.push({ path: '', dir: true }); // the tree, one of its parts, or a chunk list
      return found;
    }
    for (const e of entries) {
      if (e.type === 'dir') for (const d of await visit(e.tree)) found.push({ path: d.path ? `${e.name}/${d.path}` : e.name, dir: d.dir });
      else if (e.chunks.some(([c]) => bad.has(c)) || (e.list && bad.has(e.list))) found.push({ path: e.name, dir: false });
    }
    return found;
  };
  for (const cid of repo.blobs.idsOfType(BlobType.Commit)) {
    if (bad.has(cid)) continue;
    let tree: string;
    try { tree = (await repo.readCommit(cid)).tree; } catch { continue; }
    for (const d of await visit(tree)) {
      const kind = d.dir ? 'damaged-directory' : 'damaged-file';
      const message = `${d.dir ? 'directory' : 'file'} ${d.path || '/'} (commit ${cid.slice(0, 12)}) is damaged`;
      out.set(message, { kind, severity: 'error', path: d.path || '/', commit: cid, message });
    }
  }
  return [...out.values()].sort((a, b) => a.message.localeCompare(b.message));
}

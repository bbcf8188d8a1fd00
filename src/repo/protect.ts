// Protected branches: a branch that moves only by a listed identity or access key
// ("protect production outputs from test runs"). The list lives in the repository's
// meta table, so it travels with the refs it guards and every writer (dv commit, dv
// merge, dv run -b, dv serve) reads the same one. Who is acting is an Actor: the
// identity a command runs as (DV_IDENTITY, else the OS user name) and, through the
// proxy, the access key that signed the request and the identity it was minted for.
import os from 'node:os';
import { deleteMeta, getMeta, setMeta } from '../store/db.js';
import { DvError } from '../store/errors.js';
import { checkRefName } from './refs.js';
import type { Repo } from './repo.js';

export interface Actor {
  identity: string | null;
  /** Access key id, when acting through dv serve. */
  key: string | null;
}

export interface Protection {
  branch: string;
  /** Identities and access key ids that may move it. */
  allow: string[];
}

const META = 'protected-branches';
const NAME_RE = /^[A-Za-z0-9._@+-]{1,128}$/;

/** Who local commands act as: $DV_IDENTITY, else the OS user name. */
export function localActor(): Actor {
  const env = process.env.DV_IDENTITY;
  if (env && env.trim() !== '') return { identity: env.trim(), key: null };
  try {
    return { identity: os.userInfo().username, key: null };
  } catch {
    return { identity: `uid:${process.getuid?.() ?? 'unknown'}`, key: null }; // a uid without a passwd entry
  }
}

export function listProtected(repo: Repo): Protection[] {
  const raw = getMeta(repo.db, META);
  if (!raw) return [];
  return (JSON.parse(raw) as Protection[]).map((p) => ({ branch: p.branch, allow: [...p.allow] }));
}

export function protectionOf(repo: Repo, branch: string): Protection | null {
  return listProtected(repo).find((p) => p.branch === branch) ?? null;
}

function save(repo: Repo, list: Protection[]): void {
  if (list.length === 0) deleteMeta(repo.db, META);
  else setMeta(repo.db, META, JSON.stringify(list.sort((a, b) => (a.branch < b.branch ? -1 : 1))));
}

/** dv branch protect: `allow` empty means the protecting identity alone. Re-protecting replaces the list. */
export function protectBranch(repo: Repo, branch: string, allow: string[], by: Actor = localActor()): Protection {
  checkRefName(branch, 'branch');
  for (const a of allow) if (!NAME_RE.test(a)) throw new DvError(`--allow ${a}: an identity or access key id is letters, digits and . _ @ + -`, 2);
  const current = protectionOf(repo, branch);
  if (current) assertMayMove(repo, branch, by);
  const p: Protection = { branch, allow: [...new Set(allow.length ? allow : [by.identity ?? by.key ?? ''])].filter(Boolean) };
  save(repo, [...listProtected(repo).filter((x) => x.branch !== branch), p]);
  return p;
}

/** dv branch unprotect: only someone the branch allows may lift its protection. */
export function unprotectBranch(repo: Repo, branch: string, by: Actor = localActor()): Protection {
  const current = protectionOf(repo, branch);
  if (!current) throw new DvError(`branch '${branch}' is not protected`);
  assertMayMove(repo, branch, by);
  save(repo, listProtected(repo).filter((x) => x.branch !== branch));
  return current;
}

export function mayMove(p: Protection, who: Actor): boolean {
  return (who.identity !== null && p.allow.includes(who.identity)) || (who.key !== null && p.allow.includes(who.key));
}

/** Throws (code PROTECTED) unless `who` may move `branch`. */
export function assertMayMove(repo: Repo, branch: string, who: Actor | Actor[]): void {
  assertAllowed(protectionOf(repo, branch), who);
}

/** The same check against a list held elsewhere (a remote's); `where` prefixes the message. */
export function assertAllowed(p: Protection | null | undefined, who: Actor | Actor[], where = ''): void {
  if (!p) return;
  for (const a of Array.isArray(who) ? who : [who]) {
    if (mayMove(p, a)) continue;
    const as = a.key ? `key ${a.key}${a.identity ? ` (identity ${a.identity})` : ''}` : `identity '${a.identity}'`;
    throw new DvError(`${where}branch '${p.branch}' is protected: ${as} may not change it (allowed: ${p.allow.join(', ') || 'nobody'})`, 1, 'PROTECTED');
  }
}

/**
 * A remote's list after a push of `branches` by `who`: each pushed branch protected
 * here replaces the remote's entry (which `who` must be allowed by); entries of other
 * branches stay. Null when nothing changes.
 */
export function publishProtections(repo: Repo, remote: Protection[], branches: string[], who: Actor): Protection[] | null {
  const out = new Map(remote.map((p) => [p.branch, p]));
  let changed = false;
  for (const b of branches) {
    const mine = protectionOf(repo, b);
    const theirs = out.get(b);
    if (!mine || (theirs && JSON.stringify([...theirs.allow].sort()) === JSON.stringify([...mine.allow].sort()))) continue;
    assertAllowed(theirs, who, 'the remote\'s ');
    out.set(b, mine);
    changed = true;
  }
  return changed ? [...out.values()].sort((a, b) => (a.branch < b.branch ? -1 : 1)) : null;
}

/** dv fetch / clone: the remote's protections apply here too, for branches not protected locally. */
export function adoptProtections(repo: Repo, remote: Protection[]): string[] {
  const local = listProtected(repo);
  const have = new Set(local.map((p) => p.branch));
  const adopted = remote.filter((p) => !have.has(p.branch));
  if (adopted.length) save(repo, [...local, ...adopted]);
  return adopted.map((p) => p.branch);
}

// Git interop without a git binary (isomorphic-git): record the code version in each
// dv commit, keep the data version in a git-tracked dv.lock, resolve git revisions to
// the data version committed with them, and list every data version that any git
// commit's dv.lock names (gc roots: a version committed with code is never lost).
import fs from 'node:fs';
import path from 'node:path';
import { DvError } from '../store/errors.js';
import { writeFileAtomic } from '../store/fsutil.js';
import type { Repo } from './repo.js';
import type { GitInfo } from './types.js';

export const LOCK_FILE = 'dv.lock';

export interface DvLock {
  commit: string;
  paths: string[];
}

// isomorphic-git takes ~100 ms to load; only commands inside a git repository pay for it.
async function loadGit() {
  return (await import('isomorphic-git')).default;
}

export function findGitRoot(dir: string): string | null {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, '.git'))) return d;
    if (path.dirname(d) === d) return null;
  }
}

/** dv.lock's path inside the git repository at `gitRoot`. */
function lockPathIn(gitRoot: string, root: string): string {
  return path.relative(gitRoot, path.join(root, LOCK_FILE)).split(path.sep).join('/');
}

/** The enclosing git repository's HEAD and whether tracked code differs from it. */
export async function gitInfo(root: string): Promise<GitInfo | null> {
  const dir = findGitRoot(root);
  if (!dir) return null;
  const git = await loadGit();
  let commit: string;
  try {
    commit = await git.resolveRef({ fs, dir, ref: 'HEAD' });
  } catch {
    return null; // a git repository without commits yet
  }
  const lockRel = lockPathIn(dir, root);
  const matrix = await git.statusMatrix({ fs, dir, filter: (f) => f !== lockRel });
  // [file, HEAD, workdir, stage]: anything but 1,1,1 (unmodified) or 0,2,0 (untracked) is dirty.
  const dirty = matrix.some(([, h, w, s]) => !(h === 1 && w === 1 && s === 1) && !(h === 0 && w === 2 && s === 0));
  return { commit, dirty };
}

/** Adds lines (`/data`, `/.dv/`) to the project's .gitignore unless present. */
export function ignoreInGit(root: string, entries: string[]): void {
  const ignoreFile = path.join(root, '.gitignore');
  const existing = fs.existsSync(ignoreFile) ? fs.readFileSync(ignoreFile, 'utf8') : '';
  const lines = new Set(existing.split('\n').map((l) => l.trim()));
  const bare = (l: string) => l.replace(/\/$/, '');
  const missing = entries.filter((l) => !lines.has(bare(l)) && !lines.has(`${bare(l)}/`));
  if (!missing.length) return;
  const sep = existing && !existing.endsWith('\n') ? '\n' : '';
  writeFileAtomic(ignoreFile, `${existing}${sep}${missing.join('\n')}\n`);
}

/** Inside git: write dv.lock and make sure git ignores the data dv tracks. */
export async function afterDvCommit(repo: Repo, commit: string, tracked: string[]): Promise<void> {
  if (!findGitRoot(repo.root)) return;
  const lock: DvLock = { commit, paths: tracked };
  writeFileAtomic(path.join(repo.root, LOCK_FILE), JSON.stringify(lock, null, 2) + '\n');
  ignoreInGit(repo.root, tracked.map((p) => `/${p}`));
}

function parseLock(text: string, where: string): string {
  try {
    const c = (JSON.parse(text) as DvLock).commit;
    if (typeof c === 'string' && /^[0-9a-f]{64}$/.test(c)) return c;
  } catch { /* below */ }
  throw new DvError(`${LOCK_FILE} at ${where} is malformed`);
}

/** The dv commit recorded in dv.lock at a git revision, or null if `rev` is not one. */
export async function resolveGitRevision(repo: Repo, rev: string): Promise<string | null> {
  const dir = findGitRoot(repo.root);
  if (!dir) return null;
  const git = await loadGit();
  let oid: string;
  try {
    oid = await git.resolveRef({ fs, dir, ref: rev });
  } catch {
    try {
      if (!/^[0-9a-f]{4,40}$/.test(rev)) return null;
      oid = await git.expandOid({ fs, dir, oid: rev });
    } catch {
      return null;
    }
  }
  try {
    oid = (await git.readCommit({ fs, dir, oid })).oid; // an annotated tag names its commit
  } catch {
    return null;
  }
  const { dv } = await lockAt(repo, dir, oid);
  if (dv === null) throw new DvError(`git revision '${rev}' has no ${LOCK_FILE}: no data version was committed with it`);
  return dv;
}

/** What dv.lock at git commit `oid` names, and the commit's parents: cached in the index. */
async function lockAt(repo: Repo, dir: string, oid: string): Promise<{ dv: string | null; parents: string[] }> {
  const cached = repo.gitLocks.get(oid);
  if (cached) return cached;
  const git = await loadGit();
  const { commit } = await git.readCommit({ fs, dir, oid });
  let dv: string | null = null;
  try {
    const { blob } = await git.readBlob({ fs, dir, oid, filepath: lockPathIn(dir, repo.root) });
    dv = parseLock(Buffer.from(blob).toString('utf8'), `git commit ${oid.slice(0, 12)}`);
  } catch (e) {
    if (e instanceof DvError) throw e;
  }
  const entry = { dv, parents: commit.parent };
  repo.gitLocks.set(oid, entry);
  return entry;
}

/** The tips of every git ref: branches, remote branches, tags, HEAD, and the stash with its reflog. */
async function gitTips(dir: string): Promise<string[]> {
  const git = await loadGit();
  const tips = new Set<string>();
  const add = async (ref: string) => {
    try { tips.add(await git.resolveRef({ fs, dir, ref })); } catch { /* dangling ref */ }
  };
  await add('HEAD');
  for (const b of await git.listBranches({ fs, dir })) await add(`refs/heads/${b}`);
  for (const { remote } of await git.listRemotes({ fs, dir })) {
    for (const b of await git.listBranches({ fs, dir, remote })) if (b !== 'HEAD') await add(`refs/remotes/${remote}/${b}`);
  }
  for (const t of await git.listTags({ fs, dir })) await add(`refs/tags/${t}`);
  await add('refs/stash');
  // Older stash entries live only in the stash's reflog: "<old> <new> ...".
  const stashLog = path.join(dir, '.git', 'logs', 'refs', 'stash');
  if (fs.existsSync(stashLog)) {
    for (const line of fs.readFileSync(stashLog, 'utf8').split('\n')) {
      const m = /^[0-9a-f]{40} ([0-9a-f]{40}) /.exec(line);
      if (m) tips.add(m[1]);
    }
  }
  return [...tips];
}

/**
 * Every dv commit named by a dv.lock: in any commit reachable from any ref of the
 * enclosing git repository, in git's index (staged) and in the working tree. Each git
 * commit is read once ever (cached in the index), so a gc walks git history from SQLite.
 */
export async function gitLockedCommits(repo: Repo): Promise<string[]> {
  const dir = findGitRoot(repo.root);
  if (!dir) return [];
  const out = new Set<string>();
  const work = path.join(repo.root, LOCK_FILE);
  if (fs.existsSync(work)) {
    try { out.add(parseLock(fs.readFileSync(work, 'utf8'), 'the working tree')); } catch { /* a half-edited file names nothing */ }
  }
  const seen = new Set<string>();
  const stack = await gitTips(dir);
  while (stack.length) {
    const oid = stack.pop()!;
    if (seen.has(oid)) continue;
    seen.add(oid);
    let entry;
    try {
      entry = await lockAt(repo, dir, oid);
    } catch (e) {
      if (e instanceof DvError) continue; // a malformed dv.lock names nothing
      continue; // a commit git itself lacks (shallow clone): its line ends here
    }
    if (entry.dv) out.add(entry.dv);
    for (const p of entry.parents) if (!seen.has(p)) stack.push(p);
  }
  return [...out];
}

/** "Name <email>" from git's configuration (environment, repository, global, XDG), or null. */
export function gitIdentity(root: string): string | null {
  let name = process.env.GIT_AUTHOR_NAME;
  let email = process.env.GIT_AUTHOR_EMAIL;
  const home = process.env.HOME ?? '';
  const dir = findGitRoot(root);
  const files = [
    dir && path.join(dir, '.git', 'config'),
    path.join(home, '.gitconfig'),
    path.join(process.env.XDG_CONFIG_HOME || path.join(home, '.config'), 'git', 'config'),
  ];
  for (const f of files) {
    if (name && email) break;
    if (!f || !fs.existsSync(f)) continue;
    const user = readUserSection(fs.readFileSync(f, 'utf8'));
    name ||= user.name;
    email ||= user.email;
  }
  return name && email ? `${name} <${email}>` : null;
}

/** user.name and user.email of a git config file (the `[user]` section). */
function readUserSection(text: string): { name?: string; email?: string } {
  const out: { name?: string; email?: string } = {};
  let inUser = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) { inUser = /^\[\s*user\s*\]$/i.test(line); continue; }
    const m = inUser && /^(name|email)\s*=\s*(.*)$/i.exec(line);
    if (!m) continue;
    const value = m[2].replace(/\s[;#].*$/, '').trim().replace(/^"(.*)"$/, '$1');
    out[m[1].toLowerCase() as 'name' | 'email'] = value;
  }
  return out;
}

// Git interop without a git binary (isomorphic-git): record the code version in each
// dv commit, keep the data version in a git-tracked dv.lock, and resolve git revisions
// to the data version committed with them.
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

export async function findGitRoot(dir: string): Promise<string | null> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, '.git'))) return d;
    if (path.dirname(d) === d) return null;
  }
}

/** The enclosing git repository's HEAD and whether tracked code differs from it. */
export async function gitInfo(root: string): Promise<GitInfo | null> {
  const dir = await findGitRoot(root);
  if (!dir) return null;
  const git = await loadGit();
  let commit: string;
  try {
    commit = await git.resolveRef({ fs, dir, ref: 'HEAD' });
  } catch {
    return null; // a git repository without commits yet
  }
  const lockRel = path.relative(dir, path.join(root, LOCK_FILE)).split(path.sep).join('/');
  const matrix = await git.statusMatrix({ fs, dir, filter: (f) => f !== lockRel });
  // [file, HEAD, workdir, stage]: anything but 1,1,1 (unmodified) or 0,2,0 (untracked) is dirty.
  const dirty = matrix.some(([, h, w, s]) => !(h === 1 && w === 1 && s === 1) && !(h === 0 && w === 2 && s === 0));
  return { commit, dirty };
}

/** Inside git: write dv.lock and make sure git ignores the data dv tracks. */
export async function afterDvCommit(repo: Repo, commit: string, tracked: string[]): Promise<void> {
  if (!(await findGitRoot(repo.root))) return;
  const lock: DvLock = { commit, paths: tracked };
  writeFileAtomic(path.join(repo.root, LOCK_FILE), JSON.stringify(lock, null, 2) + '\n');
  const ignoreFile = path.join(repo.root, '.gitignore');
  const existing = fs.existsSync(ignoreFile) ? fs.readFileSync(ignoreFile, 'utf8') : '';
  const lines = new Set(existing.split('\n').map((l) => l.trim()));
  const missing = tracked.map((p) => `/${p}`).filter((l) => !lines.has(l) && !lines.has(`${l}/`));
  if (missing.length) {
    const sep = existing && !existing.endsWith('\n') ? '\n' : '';
    fs.writeFileSync(ignoreFile, `${existing}${sep}${missing.join('\n')}\n`);
  }
}

/** The dv commit recorded in dv.lock at a git revision, or null if `rev` is not one. */
export async function resolveGitRevision(repo: Repo, rev: string): Promise<string | null> {
  const dir = await findGitRoot(repo.root);
  if (!dir) return null;
  const git = await loadGit();
  let oid: string;
  try {
    oid = await git.resolveRef({ fs, dir, ref: rev });
  } catch {
    try {
      oid = await git.expandOid({ fs, dir, oid: rev });
    } catch {
      return null;
    }
  }
  const filepath = path.relative(dir, path.join(repo.root, LOCK_FILE)).split(path.sep).join('/');
  let text: string;
  try {
    const { blob } = await git.readBlob({ fs, dir, oid, filepath });
    text = Buffer.from(blob).toString('utf8');
  } catch {
    throw new DvError(`git revision '${rev}' has no ${LOCK_FILE}: no data version was committed with it`);
  }
  try {
    return (JSON.parse(text) as DvLock).commit;
  } catch {
    throw new DvError(`${LOCK_FILE} at git revision '${rev}' is malformed`);
  }
}

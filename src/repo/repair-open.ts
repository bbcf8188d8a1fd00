// dv fsck --repair on a repository whose dv.db no longer opens or whose schema no
// longer reads (its first page damaged, the file deleted or replaced): everything in
// dv.db is derived from the packs (the index) or recorded in .dv/refs.log (refs, HEAD,
// the reflog), so the file is moved to .dv/lost+found/ and a fresh one is built from
// those. Caches kept only in dv.db (stat cache, ETags, git dv.lock cache) are
// recomputed on demand; pipeline run records lose their index rows.
import fs from 'node:fs';
import path from 'node:path';
import { DvError } from '../store/errors.js';
import { fsyncDir } from '../store/fsutil.js';
import { repair, type RepairOptions, type RepairResult } from './repair.js';
import { Repo } from './repo.js';

/** Opens the repository at or above `dir`, first setting dv.db aside when it cannot be
 * read; returns where it was put (null when it was not). */
export function openForRepair(dir: string): { repo: Repo; setAside: string | null } {
  const root = repoRoot(dir);
  const dbFile = path.join(root, '.dv', 'dv.db');
  // A WAL left without its database would be replayed into the fresh one.
  if (!fs.existsSync(dbFile) && fs.existsSync(`${dbFile}-wal`)) {
    const moved = setAside(dbFile);
    return { repo: Repo.open(root), setAside: moved };
  }
  let repo: Repo | undefined;
  try {
    repo = Repo.open(root);
    repo.db.prepare('SELECT name, sql FROM sqlite_schema').all();
    return { repo, setAside: null };
  } catch (e) {
    repo?.close();
    // Only damage sets the file aside: not a lock held by another process (SQLITE_BUSY),
    // a permission, a database of a newer dv or a repository that is not there.
    const code = (e as { code?: string }).code ?? '';
    const damaged = /^SQLITE_(NOTADB|CORRUPT)/.test(code) || (e instanceof DvError && /^cannot read .*dv\.db/.test(e.message));
    if (!damaged) throw e;
  }
  const moved = setAside(dbFile);
  return { repo: Repo.open(root), setAside: moved };
}

/** dv fsck --repair from the command line: opens as above, repairs (again, when the
 * database header was fixed or SQLite still finds damage: then on a fresh dv.db). */
export async function repairAt(dir: string, opts: RepairOptions = {}): Promise<RepairResult> {
  let { repo, setAside: moved } = openForRepair(dir);
  try {
    let r = await repair(repo, opts).catch(async (e: DvError) => {
      if (e.code !== 'AGAIN') throw e;
      repo.close();
      repo = Repo.open(repo.root);
      return repair(repo, opts);
    });
    if (r.fsck.problems.database?.length) {
      repo.close();
      moved = setAside(path.join(repo.root, '.dv', 'dv.db'));
      repo = Repo.open(repo.root);
      r = await repair(repo, opts);
    }
    return { ...r, databaseSetAside: moved };
  } finally {
    repo.close();
  }
}

/** The repository root at or above `dir`, found without opening dv.db. */
function repoRoot(dir: string): string {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, '.dv', 'config.json'))) return d;
    if (path.dirname(d) === d) return path.resolve(dir); // Repo.open says what is wrong
  }
}

/** Moves dv.db and its -wal, -shm to .dv/lost+found/ (numbered when taken). */
function setAside(dbFile: string): string {
  const lost = path.join(path.dirname(dbFile), 'lost+found');
  fs.mkdirSync(lost, { recursive: true });
  let n = 0;
  const name = () => path.join(lost, n ? `dv.db.${n}` : 'dv.db');
  while (fs.existsSync(name())) n++;
  const dest = name();
  for (const ext of ['', '-wal', '-shm']) {
    if (fs.existsSync(dbFile + ext)) fs.renameSync(dbFile + ext, dest + ext);
  }
  fsyncDir(lost);
  fsyncDir(path.dirname(dbFile));
  return dest;
}

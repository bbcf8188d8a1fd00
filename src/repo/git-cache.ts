// What each git commit's dv.lock names, and its parents, cached in the repo index
// (table git_locks): git commits are immutable, so each is read from git once ever
// and a gc's walk over the whole git history afterwards costs SQLite lookups only.
import type { DB } from '../store/db.js';

export interface GitLockEntry {
  /** The dv commit named by dv.lock at that git commit, or null when it has none. */
  dv: string | null;
  parents: string[];
}

export class GitLockCache {
  constructor(private db: DB) {}

  get(oid: string): GitLockEntry | undefined {
    const row = this.db.prepare('SELECT dv, parents FROM git_locks WHERE commit_id = ?').get(oid) as
      { dv: string | null; parents: string } | undefined;
    return row && { dv: row.dv, parents: row.parents ? row.parents.split(' ') : [] };
  }

  set(oid: string, e: GitLockEntry): void {
    this.db.prepare('INSERT OR REPLACE INTO git_locks (commit_id, dv, parents) VALUES (?, ?, ?)').run(oid, e.dv, e.parents.join(' '));
  }
}

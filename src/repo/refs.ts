// Branches (heads/*), tags (tags/*), remote-tracking refs (remotes/<r>/*) and HEAD,
// kept in SQLite so a ref update commits atomically with the index rows it needs.
import type { DB } from '../store/db.js';
import { getMeta, setMeta } from '../store/db.js';
import { DvError } from '../store/errors.js';

export interface Ref {
  name: string;
  target: string;
}

export type Head = { branch: string; commit: string | null } | { branch: null; commit: string };

const NAME_RE = /^(?!.*\.\.)(?!.*\/\/)(?!\/)(?!.*\/$)(?!.*\.lock$)[A-Za-z0-9._\/-]+$/;

/** Branch and tag names follow git's rules loosely: no `..`, no leading `-`, no spaces. */
export function checkRefName(name: string, what: string): void {
  if (!NAME_RE.test(name) || name.startsWith('-') || name === 'HEAD' || /^[0-9a-f]{64}$/.test(name)) {
    throw new DvError(`invalid ${what} name '${name}'`, 2);
  }
}

export class Refs {
  constructor(private db: DB) {}

  get(name: string): string | undefined {
    const row = this.db.prepare('SELECT target FROM refs WHERE name = ?').get(name) as { target: string } | undefined;
    return row?.target;
  }

  set(name: string, target: string): void {
    this.db.prepare('INSERT INTO refs (name, target) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET target = excluded.target').run(name, target);
  }

  delete(name: string): boolean {
    return this.db.prepare('DELETE FROM refs WHERE name = ?').run(name).changes > 0;
  }

  list(prefix = ''): Ref[] {
    return this.db.prepare("SELECT name, target FROM refs WHERE name >= ? AND name < ? ORDER BY name")
      .all(prefix, prefix + '\uffff') as Ref[];
  }

  head(): Head {
    const raw = getMeta(this.db, 'HEAD') ?? 'ref: heads/main';
    if (raw.startsWith('ref: heads/')) {
      const branch = raw.slice('ref: heads/'.length);
      return { branch, commit: this.get(`heads/${branch}`) ?? null };
    }
    return { branch: null, commit: raw };
  }

  setHeadBranch(branch: string): void {
    setMeta(this.db, 'HEAD', `ref: heads/${branch}`);
  }

  setHeadDetached(commit: string): void {
    setMeta(this.db, 'HEAD', commit);
  }

  /** Moves whatever HEAD points at (the branch, or HEAD itself when detached). */
  advanceHead(commit: string): void {
    const h = this.head();
    if (h.branch !== null) this.set(`heads/${h.branch}`, commit);
    else this.setHeadDetached(commit);
  }
}

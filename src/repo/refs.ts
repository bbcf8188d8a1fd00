// Branches (heads/*), tags (tags/*), remote-tracking refs (remotes/<r>/*) and HEAD,
// kept in SQLite so a ref update commits atomically with the index rows it needs.
// Every move of a branch or of HEAD is written to the reflog in the same statement
// batch (as git keeps .git/logs): the reflog is what `dv reflog` shows, what
// `REF@{N}` resolves, and a gc root for as long as the entries are younger than the
// expiry, so a commit left behind by a checkout, a reset or a deleted branch can be
// got back.
import type { DB } from '../store/db.js';
import { getMeta, setMeta } from '../store/db.js';
import { DvError, printable } from '../store/errors.js';

export interface Ref {
  name: string;
  target: string;
}

export type Head = { branch: string; commit: string | null } | { branch: null; commit: string };

export interface ReflogEntry {
  /** `HEAD` or `heads/<branch>`. */
  ref: string;
  old: string | null;
  new: string | null;
  time: string;
  message: string;
}

const MAX_NAME = 200;

/**
 * Branch and tag names follow git's check-ref-format: no control characters, space,
 * `~ ^ : ? * [ \`, no `..` or `@{`, no component that starts with `.` or ends with
 * `.lock`, no empty component, not `@`, not ending in `.`; plus: not `HEAD`, not a
 * leading `-`, not a full commit id, at most 200 characters.
 */
export function checkRefName(name: string, what: string): void {
  const bad = (why: string) => new DvError(`invalid ${what} name '${printable(name)}': ${why}`, 2);
  if (name.length === 0) throw bad('empty');
  if (name.length > MAX_NAME) throw bad(`longer than ${MAX_NAME} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) throw bad('no spaces, control characters or any of ~ ^ : ? * [ \\');
  if (name.includes('..') || name.includes('@{') || name === '@') throw bad("no '..', '@{' or a lone '@'");
  if (name.startsWith('-')) throw bad("it may not start with '-'");
  if (name.endsWith('.')) throw bad("it may not end with '.'");
  for (const part of name.split('/')) {
    if (part === '') throw bad("no empty path component (leading, trailing or double '/')");
    if (part.startsWith('.')) throw bad("no path component may start with '.'");
    if (part.endsWith('.lock')) throw bad("no path component may end with '.lock'");
  }
  if (name === 'HEAD' || /^[0-9a-f]{64}$/.test(name)) throw bad('reserved');
}

export class Refs {
  constructor(private db: DB) {}

  get(name: string): string | undefined {
    const row = this.db.prepare('SELECT target FROM refs WHERE name = ?').get(name) as { target: string } | undefined;
    return row?.target;
  }

  /** Sets a ref; branch moves are logged (`message` says why, as git's reflog does). */
  set(name: string, target: string, message = 'update'): void {
    this.db.transaction(() => {
      const old = this.get(name) ?? null;
      this.db.prepare('INSERT INTO refs (name, target) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET target = excluded.target').run(name, target);
      if (old === target) return;
      this.logBranch(name, old, target, message);
    })();
  }

  delete(name: string, message = 'deleted'): boolean {
    return this.db.transaction(() => {
      const old = this.get(name) ?? null;
      const gone = this.db.prepare('DELETE FROM refs WHERE name = ?').run(name).changes > 0;
      if (gone) this.logBranch(name, old, null, message);
      return gone;
    })();
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

  setHeadBranch(branch: string, message = `checkout: moving to ${branch}`): void {
    this.db.transaction(() => {
      const old = this.head().commit;
      setMeta(this.db, 'HEAD', `ref: heads/${branch}`);
      const now = this.get(`heads/${branch}`) ?? null;
      if (old !== now) this.log('HEAD', old, now, message);
    })();
  }

  setHeadDetached(commit: string, message = `checkout: moving to ${commit.slice(0, 12)}`): void {
    this.db.transaction(() => {
      const old = this.head().commit;
      setMeta(this.db, 'HEAD', commit);
      if (old !== commit) this.log('HEAD', old, commit, message);
    })();
  }

  /** Moves whatever HEAD points at (the branch, or HEAD itself when detached). */
  advanceHead(commit: string, message: string): void {
    const h = this.head();
    if (h.branch !== null) this.set(`heads/${h.branch}`, commit, message);
    else this.setHeadDetached(commit, message);
  }

  /** Reflog entries, newest first: of one ref (`HEAD`, `heads/x`), or of all. */
  reflog(ref?: string, limit = -1): ReflogEntry[] {
    const sql = `SELECT ref, old, new, time, message FROM reflog ${ref ? 'WHERE ref = ?' : ''} ORDER BY id DESC LIMIT ?`;
    return this.db.prepare(sql).all(...(ref ? [ref, limit] : [limit])) as ReflogEntry[];
  }

  /** Commits named by reflog entries at or after `since` (ISO time). */
  reflogCommitsSince(since: string): string[] {
    const rows = this.db.prepare('SELECT old, new FROM reflog WHERE time >= ?').all(since) as { old: string | null; new: string | null }[];
    const out = new Set<string>();
    for (const r of rows) for (const id of [r.old, r.new]) if (id) out.add(id);
    return [...out];
  }

  /** Drops entries older than `before` (ISO time), as git's reflog expire; returns how many. */
  expireReflog(before: string): number {
    return this.db.prepare('DELETE FROM reflog WHERE time < ?').run(before).changes;
  }

  private logBranch(name: string, old: string | null, target: string | null, message: string): void {
    if (!name.startsWith('heads/')) return; // tags and remote-tracking refs are not logged, as in git
    this.log(name, old, target, message);
    const head = getMeta(this.db, 'HEAD');
    if (head === `ref: ${name}`) this.log('HEAD', old, target, message);
  }

  private log(ref: string, old: string | null, target: string | null, message: string): void {
    this.db.prepare('INSERT INTO reflog (ref, old, new, time, message) VALUES (?, ?, ?, ?, ?)')
      .run(ref, old, target, new Date().toISOString(), message);
  }
}

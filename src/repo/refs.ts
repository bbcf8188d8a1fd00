// Branches (heads/*), tags (tags/*), remote-tracking refs (remotes/<r>/*) and HEAD,
// kept in SQLite so a ref update commits atomically with the index rows it needs.
// Every move of a branch or of HEAD is written to the reflog in the same statement
// batch (as git keeps .git/logs): the reflog is what `dv reflog` shows, what
// `REF@{N}` resolves, and a gc root for as long as the entries are younger than the
// expiry, so a commit left behind by a checkout, a reset or a deleted branch can be
// got back. Every update is also appended to .dv/refs.log (refs-log.ts) inside the same
// transaction, so the refs can be rebuilt when dv.db is lost.
import type { DB } from '../store/db.js';
import { getMeta, prepared, setMeta } from '../store/db.js';
import { DvError, printable } from '../store/errors.js';
import { appendRefLog, writeRefLog, type LogEntry, type RefLogLine, type RefLogState } from './refs-log.js';

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
  /** The reflog entries of the update in progress (written to refs.log with it). */
  private entries: LogEntry[] = [];
  /** Its time: the reflog rows and the log line carry the same. */
  private opTime: string | undefined;
  /** Lines of a batch (see batch), appended together before its transaction commits. */
  private pending: RefLogLine[] | null = null;

  /** `logFile`: .dv/refs.log (none: updates are kept in SQLite only). */
  constructor(private db: DB, private logFile?: string) {}

  get(name: string): string | undefined {
    const row = this.db.prepare('SELECT target FROM refs WHERE name = ?').get(name) as { target: string } | undefined;
    return row?.target;
  }

  /** Sets a ref; branch moves are logged (`message` says why, as git's reflog does). */
  set(name: string, target: string, message = 'update'): void {
    this.db.transaction(() => {
      this.begin();
      const old = this.get(name) ?? null;
      this.db.prepare('INSERT INTO refs (name, target) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET target = excluded.target').run(name, target);
      if (old === target) return;
      this.logBranch(name, old, target, message);
      this.append({ ref: name, to: target });
    })();
  }

  delete(name: string, message = 'deleted'): boolean {
    return this.db.transaction(() => {
      this.begin();
      const old = this.get(name) ?? null;
      const gone = this.db.prepare('DELETE FROM refs WHERE name = ?').run(name).changes > 0;
      if (gone) {
        this.logBranch(name, old, null, message);
        this.append({ ref: name, to: null });
      }
      return gone;
    })();
  }

  list(prefix = ''): Ref[] {
    // Compiled once: dv serve lists the refs on every request.
    return prepared(this.db, "SELECT name, target FROM refs WHERE name >= ? AND name < ? ORDER BY name")
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
      this.begin();
      const old = this.head().commit;
      setMeta(this.db, 'HEAD', `ref: heads/${branch}`);
      const now = this.get(`heads/${branch}`) ?? null;
      if (old !== now) this.log('HEAD', old, now, message);
      this.append({ head: `ref: heads/${branch}` });
    })();
  }

  setHeadDetached(commit: string, message = `checkout: moving to ${commit.slice(0, 12)}`): void {
    this.db.transaction(() => {
      this.begin();
      const old = this.head().commit;
      setMeta(this.db, 'HEAD', commit);
      if (old !== commit) this.log('HEAD', old, commit, message);
      this.append({ head: commit });
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

  /** Commits named by reflog entries after `since` (ISO time): those expireReflog(since) keeps. */
  reflogCommitsSince(since: string): string[] {
    const rows = this.db.prepare('SELECT old, new FROM reflog WHERE time > ?').all(since) as { old: string | null; new: string | null }[];
    const out = new Set<string>();
    for (const r of rows) for (const id of [r.old, r.new]) if (id) out.add(id);
    return [...out];
  }

  /**
   * Drops entries made at or before `before` (ISO time), as git's reflog expire; returns
   * how many. At, not only before: an expiry of 0 days drops an entry made in the same
   * millisecond as the gc that asks for it.
   */
  expireReflog(before: string): number {
    return this.db.prepare('DELETE FROM reflog WHERE time <= ?').run(before).changes;
  }

  /** Rewrites refs.log as the current state: one line per reflog entry, ref and HEAD (dv gc). */
  compactLog(): void {
    if (this.logFile) writeRefLog(this.logFile, this.snapshot());
  }

  /**
   * Puts back what refs.log holds where dv.db disagrees or lost it (dv fsck --repair):
   * the refs, HEAD, and the reflog when the database holds fewer entries than the log
   * (the log is written ahead of the database, so it is never behind). A ref the log
   * does not know is kept only when `keep` accepts it (else it is a damaged row).
   * Returns the names put back or dropped.
   */
  restore(state: RefLogState, keep: (name: string, target: string) => boolean): string[] {
    const changed: string[] = [];
    this.db.transaction(() => {
      const put = this.db.prepare('INSERT INTO refs (name, target) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET target = excluded.target');
      for (const [name, target] of state.refs) {
        if (this.get(name) !== target && /^[0-9a-f]{64}$/.test(target)) { put.run(name, target); changed.push(name); }
      }
      // By rowid: a name whose bytes are not UTF-8 (damage) reads back with U+FFFD, which
      // no longer matches the stored name.
      const rows = this.db.prepare('SELECT rowid AS id, name, target FROM refs ORDER BY name').all() as { id: number; name: string; target: string }[];
      for (const r of rows) {
        if (!state.refs.has(r.name) && !keep(r.name, r.target)) { this.db.prepare('DELETE FROM refs WHERE rowid = ?').run(r.id); changed.push(r.name); }
      }
      if (state.head !== undefined && getMeta(this.db, 'HEAD') !== state.head) { setMeta(this.db, 'HEAD', state.head); changed.push('HEAD'); }
      const have = this.db.prepare('SELECT count(*) FROM reflog').pluck().get() as number;
      if (have < state.reflog.length) {
        this.db.exec('DELETE FROM reflog');
        const ins = this.db.prepare('INSERT INTO reflog (ref, old, new, time, message) VALUES (?, ?, ?, ?, ?)');
        for (const e of state.reflog) ins.run(e.ref, e.old, e.new, e.time, e.message);
        changed.push('reflog');
      }
    })();
    return changed;
  }

  private snapshot(): RefLogLine[] {
    const log = this.db.prepare('SELECT ref, old, new, time, message FROM reflog ORDER BY id').all() as ReflogEntry[];
    const now = new Date().toISOString();
    const head = getMeta(this.db, 'HEAD');
    return [
      ...log.map((e) => ({ t: e.time, log: [[e.ref, e.old, e.new, e.message] as LogEntry] })),
      ...this.list().map((r) => ({ t: now, ref: r.name, to: r.target })),
      ...(head !== undefined ? [{ t: now, head }] : []),
    ];
  }

  private begin(): void {
    this.entries = [];
    this.opTime = undefined;
  }

  /** One line per update, with the reflog entries it wrote; inside the update's
   * transaction, so a failed append undoes the update. */
  private append(line: Omit<RefLogLine, 't'>): void {
    const log = this.entries;
    const t = this.opTime ?? new Date().toISOString();
    this.entries = [];
    this.opTime = undefined;
    if (!this.logFile) return;
    const full = { t, ...line, ...(log.length ? { log } : {}) };
    if (this.pending) this.pending.push(full);
    else appendRefLog(this.logFile, [full], () => this.snapshot());
  }

  /**
   * Runs `fn` in one transaction whose ref updates reach refs.log together, in one append
   * and one fdatasync just before the transaction commits: a fetch or push moving N refs
   * pays one sync, not N, and the log is still never behind the database. If `fn` throws,
   * nothing is appended and the transaction rolls back.
   */
  batch<T>(fn: () => T): T {
    if (this.pending) return fn();
    return this.db.transaction(() => {
      this.pending = [];
      try {
        const out = fn();
        const lines = this.pending;
        this.pending = null;
        if (lines.length && this.logFile) appendRefLog(this.logFile, lines, () => this.snapshot());
        return out;
      } finally {
        this.pending = null;
      }
    })();
  }

  private logBranch(name: string, old: string | null, target: string | null, message: string): void {
    if (!name.startsWith('heads/')) return; // tags and remote-tracking refs are not logged, as in git
    this.log(name, old, target, message);
    const head = getMeta(this.db, 'HEAD');
    if (head === `ref: ${name}`) this.log('HEAD', old, target, message);
  }

  private log(ref: string, old: string | null, target: string | null, message: string): void {
    this.db.prepare('INSERT INTO reflog (ref, old, new, time, message) VALUES (?, ?, ?, ?, ?)')
      .run(ref, old, target, (this.opTime ??= new Date().toISOString()), message);
    this.entries.push([ref, old, target, message]);
  }
}

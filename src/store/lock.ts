// One writer at a time per repository. Mutual exclusion is a kernel lock: an
// exclusive SQLite transaction held open on `<file>.db` (POSIX advisory locks, which
// the kernel drops when the holder dies), so a takeover after kill -9 is atomic by
// construction: there is no stale state to judge and no window in which two
// processes can both decide they won. `<file>` itself only says who holds the lock
// (pid, host, command), for the message a waiting process prints; it is written after
// the lock is taken and may be left behind by a killed holder, which means nothing.
import fs from 'node:fs';
import os from 'node:os';
import Database from 'better-sqlite3';
import { DvError } from './errors.js';

export interface LockInfo {
  pid: number;
  host: string;
  command: string;
  since: string;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readInfo(file: string): LockInfo | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}

const isBusy = (e: unknown): boolean => /^SQLITE_(BUSY|LOCKED)/.test((e as { code?: string }).code ?? '');

export class RepoLock {
  private db: Database.Database | null = null;
  constructor(private file: string) {}

  /** Takes the kernel lock without waiting: true when it is now ours. */
  private tryTake(): boolean {
    const db = new Database(`${this.file}.db`, { timeout: 0 });
    try {
      db.exec('BEGIN EXCLUSIVE');
      this.db = db;
      return true;
    } catch (e) {
      db.close();
      if (isBusy(e)) return false;
      throw e;
    }
  }

  /** Waits up to `waitMs` (DV_LOCK_WAIT_MS overrides) for another dv process, then refuses. */
  acquire(command: string, waitMs = Number(process.env.DV_LOCK_WAIT_MS ?? 5000)): void {
    if (this.db) throw new DvError(`internal: lock ${this.file} taken twice`);
    const deadline = Date.now() + waitMs;
    while (!this.tryTake()) {
      if (Date.now() >= deadline) {
        const owner = readInfo(this.file);
        const who = owner && alive(owner.pid) ? `pid ${owner.pid} ('dv ${owner.command}', since ${owner.since})` : 'another process';
        throw new DvError(`repository is locked by ${who}; try again when it finishes`, 1, 'LOCKED');
      }
      sleep(50);
    }
    const info: LockInfo = { pid: process.pid, host: os.hostname(), command, since: new Date().toISOString() };
    fs.writeFileSync(this.file, JSON.stringify(info)); // a hint for messages: no fsync needed
  }

  /** Whether some process (this one included) holds the lock right now. */
  isHeld(): boolean {
    if (this.db) return true;
    if (!this.tryTake()) return true;
    this.release();
    return false;
  }

  release(): void {
    const db = this.db;
    if (!db) return;
    this.db = null;
    fs.rmSync(this.file, { force: true });
    db.close(); // ends the transaction: the kernel lock goes with the connection
  }
}

// One writer at a time per repository: an O_EXCL lock file holding the owner's pid.
// A lock left by a killed process (same host, pid gone) is taken over, so kill -9
// never wedges a repository.
import fs from 'node:fs';
import os from 'node:os';
import { DvError } from './errors.js';

interface LockInfo {
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

function readLock(file: string): LockInfo | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}

export class RepoLock {
  private held = false;
  constructor(private file: string) {}

  /** Waits up to `waitMs` (DV_LOCK_WAIT_MS overrides) for another dv process, then refuses. */
  acquire(command: string, waitMs = Number(process.env.DV_LOCK_WAIT_MS ?? 5000)): void {
    const info: LockInfo = { pid: process.pid, host: os.hostname(), command, since: new Date().toISOString() };
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        const fd = fs.openSync(this.file, 'wx', 0o644);
        fs.writeSync(fd, JSON.stringify(info));
        fs.closeSync(fd);
        this.held = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const owner = readLock(this.file);
      if (owner === null) {
        // Written but not yet filled by its creator, or garbage from a crash at that instant.
        if (this.ageMs() > 2000) { fs.rmSync(this.file, { force: true }); continue; }
      } else if (owner.host === os.hostname() && !alive(owner.pid)) {
        fs.rmSync(this.file, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        const who = owner ? `pid ${owner.pid} ('dv ${owner.command}', since ${owner.since})` : 'another process';
        throw new DvError(`repository is locked by ${who}; try again when it finishes`, 1, 'LOCKED');
      }
      sleep(50);
    }
  }

  private ageMs(): number {
    try { return Date.now() - fs.statSync(this.file).mtimeMs; } catch { return 0; }
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    fs.rmSync(this.file, { force: true });
  }
}

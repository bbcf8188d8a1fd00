// Writer leases: how a long-running process that stores data without holding the
// repository lock (dv serve: uploads stream into packs for minutes or hours before
// the commit that references them) tells `dv gc` to keep those packs.
//
// A lease is a small file `.dv/leases/<command>-<pid>-<rand>.json` holding
// `protectSince`: gc keeps every pack (and every not-yet-indexed pack) whose file
// was written at or after the oldest `protectSince` of any live lease, minus a
// margin for clock granularity. The holder rewrites its lease every RENEW_MS with
// protectSince = min(start of its oldest uncommitted write, now), so a write that
// starts between two renewals is covered by the previous renewal's value.
//
// A lease is live while its holder runs (same host: the pid exists) or, for other
// hosts, while it was renewed within TTL_MS; dead ones are removed by gc.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { alive } from '../store/lock.js';

export const RENEW_MS = 30_000;
const TTL_MS = 10 * RENEW_MS;
/** Pack mtimes come from the kernel's coarse clock and renewals can run late. */
export const PROTECT_MARGIN_MS = 60_000;

export interface LeaseRecord {
  pid: number;
  host: string;
  command: string;
  /** ISO time: packs written since then may hold data the holder will commit. */
  protectSince: string;
  renewed: string;
}

const leaseDir = (dvDir: string): string => path.join(dvDir, 'leases');


function isLive(l: LeaseRecord, now: number): boolean {
  if (l.host === os.hostname()) return alive(l.pid);
  return now - Date.parse(l.renewed) < TTL_MS;
}

export class WriterLease {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(readonly file: string, private command: string, private oldest: () => number | null) {}

  /** Registers a lease and renews it until release(); `oldest` gives the start time
   * (ms) of the holder's oldest uncommitted write, or null when there is none. */
  static acquire(dvDir: string, command: string, oldest: () => number | null): WriterLease {
    fs.mkdirSync(leaseDir(dvDir), { recursive: true });
    const file = path.join(leaseDir(dvDir), `${command}-${process.pid}-${randomBytes(4).toString('hex')}.json`);
    const lease = new WriterLease(file, command, oldest);
    lease.renew();
    lease.timer = setInterval(() => lease.renew(), RENEW_MS);
    lease.timer.unref();
    return lease;
  }

  renew(): void {
    if (this.closed) return;
    const now = Date.now();
    const since = Math.min(this.oldest() ?? now, now);
    const rec: LeaseRecord = {
      pid: process.pid, host: os.hostname(), command: this.command,
      protectSince: new Date(since).toISOString(), renewed: new Date(now).toISOString(),
    };
    // Renamed into place: gc must never read a half-written lease.
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(rec));
    fs.renameSync(tmp, this.file);
  }

  release(): void {
    this.closed = true;
    clearInterval(this.timer);
    fs.rmSync(this.file, { force: true });
  }
}

/**
 * For gc: the time (ms) from which pack files must be kept, or null when no live
 * lease exists. Leases of dead holders are deleted on the way.
 */
export function protectedSince(dvDir: string, now = Date.now()): number | null {
  let names: string[];
  try {
    names = fs.readdirSync(leaseDir(dvDir)).filter((n) => n.endsWith('.json'));
  } catch {
    return null;
  }
  let min: number | null = null;
  for (const name of names) {
    const file = path.join(leaseDir(dvDir), name);
    let rec: LeaseRecord;
    try {
      rec = JSON.parse(fs.readFileSync(file, 'utf8')) as LeaseRecord;
    } catch {
      continue; // vanished while we looked (released)
    }
    if (!isLive(rec, now)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    const since = Date.parse(rec.protectSince) - PROTECT_MARGIN_MS;
    if (Number.isFinite(since) && (min === null || since < min)) min = since;
  }
  return min;
}

// Leases: advisory lock objects on the remote, for servers without conditional
// writes (s3rver; older MinIO/Ceph) and for remote gc.
//
// BEST EFFORT. Plain S3 has no atomic create-if-absent, so a lease is: read the key;
// if nobody holds a live lease, write ours (random owner token + expiry); wait a
// settle delay; read it back. S3 is strongly read-after-write consistent and the last
// write wins, so of two writers that both saw "free" and wrote within the settle
// window, both read back the same winner and only that one proceeds. It can still be
// fooled when one writer's read-then-write spans the other's whole settle delay
// (a process paused for longer than the delay), or when a holder stalls past the
// expiry, or when client clocks disagree by more than the TTL. Servers with
// conditional writes do not need it for refs (see refupdate.ts). A lease whose holder
// is provably gone (same host, its pid no longer running: a killed push) is taken over
// at once instead of waited out; a waiter is told whom it waits for.
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Backend } from '../../store/backend.js';
import { DvError } from '../../store/errors.js';
import { alive } from '../../store/lock.js';

export interface LeaseBody {
  owner: string;
  host: string;
  pid: number;
  command: string;
  expires: string;
}

export interface LeaseOptions {
  /** Shown to whoever finds the lease taken, e.g. "push to heads/main". */
  command: string;
  ttlMs?: number;
  /** How long to keep trying while another live lease exists. */
  waitMs?: number;
  settleMs?: number;
  /** Told once what we wait for (holder and expiry), and when a dead holder's lease is taken over. */
  onWait?: (message: string) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Long against one request's round trip; DV_REMOTE_SETTLE_MS overrides it. */
export function settleDelayMs(): number {
  const v = Number(process.env.DV_REMOTE_SETTLE_MS);
  return Number.isFinite(v) && v >= 0 && process.env.DV_REMOTE_SETTLE_MS !== undefined ? v : 500;
}

/** The live lease under `key`, or null (absent, expired or unreadable). */
export async function readLiveLease(backend: Backend, key: string, now = Date.now()): Promise<LeaseBody | null> {
  const got = await backend.get(key);
  if (!got) return null;
  let body: LeaseBody;
  try {
    body = JSON.parse(got.body.toString('utf8')) as LeaseBody;
  } catch {
    return null; // a torn or foreign object is not a lease anyone can rely on
  }
  return typeof body.owner === 'string' && Date.parse(body.expires) > now ? body : null;
}

export function describeLease(l: LeaseBody): string {
  return `'dv ${l.command}' (pid ${l.pid} on ${l.host}, lease expires ${l.expires})`;
}

export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private released = false;

  constructor(private backend: Backend, readonly key: string, private body: LeaseBody, private ttlMs: number) {}

  get owner(): string {
    return this.body.owner;
  }

  /** Re-writes the expiry periodically, for holders that run longer than one TTL (gc). */
  keepAlive(): void {
    this.timer = setInterval(() => {
      this.body = { ...this.body, expires: new Date(Date.now() + this.ttlMs).toISOString() };
      this.backend.put(this.key, Buffer.from(JSON.stringify(this.body))).catch(() => undefined);
    }, Math.max(1000, this.ttlMs / 3));
    this.timer.unref();
  }

  /** Deletes the lease if it is still ours; never throws (an expired lease is harmless). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    try {
      const cur = await this.backend.get(this.key);
      if (cur && JSON.parse(cur.body.toString('utf8')).owner === this.body.owner) await this.backend.delete(this.key);
    } catch {
      // Left behind, it expires by itself; remote gc clears expired leases.
    }
  }
}

/** A lease written by a process of this host that no longer runs. */
export function holderGone(l: LeaseBody): boolean {
  return l.host === os.hostname() && Number.isInteger(l.pid) && l.pid > 0 && l.pid !== process.pid && !alive(l.pid);
}

export async function acquireLease(backend: Backend, key: string, opts: LeaseOptions): Promise<Lease> {
  const ttlMs = opts.ttlMs ?? 60_000;
  const settle = opts.settleMs ?? settleDelayMs();
  // By default long enough for a lease abandoned by a killed process to expire.
  const deadline = Date.now() + (opts.waitMs ?? ttlMs + 15_000);
  const owner = randomUUID();
  let told = false;
  for (;;) {
    const held = await readLiveLease(backend, key);
    if (held && held.owner !== owner && holderGone(held)) {
      // Provably gone (this host, pid not running): treat the lease as free. Two takers
      // race exactly as two writers of a free lease do: the read-back below decides.
      opts.onWait?.(`taking over ${backend.url}/${key}: its holder ${describeLease(held)} is no longer running`);
    } else if (held && held.owner !== owner) {
      if (!told) {
        told = true;
        opts.onWait?.(`waiting for ${backend.url}/${key}, held by ${describeLease(held)}: until it is released or expires`);
      }
      if (Date.now() >= deadline) {
        throw new DvError(`${backend.url}/${key} is held by ${describeLease(held)}; try again when it finishes`, 1, 'LOCKED');
      }
      await sleep(200 + Math.random() * 300);
      continue;
    }
    const body: LeaseBody = { owner, host: os.hostname(), pid: process.pid, command: opts.command,
      expires: new Date(Date.now() + ttlMs).toISOString() };
    await backend.put(key, Buffer.from(JSON.stringify(body)), { contentType: 'application/json' });
    await sleep(settle);
    const back = await readLiveLease(backend, key);
    if (back?.owner === owner) return new Lease(backend, key, body, ttlMs);
    // Someone wrote after us: they won this round. Loop and wait for their lease to go.
  }
}

// dv gc --remote: delete remote packs that nothing reachable from the remote's refs,
// its pins (data versions named by dv.lock in git history), a shared run record, or a
// run in flight through dv serve --remote (its job keys' inputs, its jobs' uploads) uses.
//
// Safety against concurrent pushes, which upload packs before the ref that makes
// them live:
// - only packs older than a grace period (default 1 h, by the server's
//   LastModified) are deleted, so a push's not-yet-referenced packs survive as long
//   as the push takes less than the grace period;
// - gc holds the lease locks/gc while it marks and deletes, and a push checks for it
//   right before writing a ref (refupdate.ts): a push that reuses an old, dead pack
//   already on the remote cannot make it live under gc's feet. The lease is best
//   effort on servers without conditional writes (lease.ts).
// Packs that are only partly dead are reported, not rewritten: rewriting means
// downloading and re-uploading live data, and a push that already skipped the
// pack because the remote "had" it would be left pointing at nothing.
import { DvError } from '../../store/errors.js';
import { pool } from '../../store/pool.js';
import type { Repo } from '../repo.js';
import { resolveRemote } from './config.js';
import { GC_LEASE_KEY, LOCKS_PREFIX, packKey } from './layout.js';
import { jobRoots } from './job-data.js';
import { acquireLease, readLiveLease, type Lease } from './lease.js';
import { indexTables, markRemote, readRemoteTables } from './mark.js';
import { Meter, type OnProgress } from './progress.js';
import { Remote } from './remote.js';

export const DEFAULT_GRACE_MS = 3600_000;
/** A lease expired this long ago is abandoned, not merely slow to be renewed. */
const STALE_LEASE_MS = 600_000;

export interface RemoteGcOptions {
  remote?: string;
  graceMs?: number;
  dryRun?: boolean;
  jobs?: number;
  onProgress?: OnProgress;
}

export interface PackReport {
  id: string;
  size: number;
  deadObjects: number;
  deadBytes: number;
}

export interface RemoteGcResult {
  remote: string;
  url: string;
  dryRun: boolean;
  graceMs: number;
  packs: number;
  objects: number;
  liveObjects: number;
  deleted: PackReport[];
  bytesFreed: number;
  /** Entirely unreferenced but younger than the grace period: kept. */
  young: PackReport[];
  /** Holding some dead objects next to live ones: kept as they are. */
  partlyDead: PackReport[];
  leasesCleared: number;
}

export async function remoteGc(repo: Repo, opts: RemoteGcOptions = {}): Promise<RemoteGcResult> {
  const { name, config } = resolveRemote(repo, opts.remote);
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < 0) throw new DvError(`invalid grace period ${graceMs} ms`, 2);
  const remote = Remote.connect(name, config, { jobs: opts.jobs });
  let lease: Lease | undefined;
  try {
    await remote.requireMeta(); // gc only reads objects: the chunker does not matter here
    if (!opts.dryRun) {
      lease = await acquireLease(remote.backend, GC_LEASE_KEY, { command: 'gc --remote', ttlMs: 300_000, waitMs: 0 });
      lease.keepAlive();
    }
    return await collect(repo, remote, graceMs, !!opts.dryRun, lease, opts.onProgress);
  } finally {
    await lease?.release();
    remote.close();
  }
}

async function collect(repo: Repo, remote: Remote, graceMs: number, dryRun: boolean, lease: Lease | undefined,
  onProgress?: OnProgress): Promise<RemoteGcResult> {
  // Refs after the lease is visible (acquireLease waited the settle delay), packs after refs.
  const refs = await remote.listRefs();
  const pins = await remote.listPins();
  const packs = [...(await remote.listPacks()).values()];
  const meter = new Meter('gc: reading pack tables', packs.length, 0, onProgress);
  const tables = await readRemoteTables(repo, remote, packs, () => meter.fileDone());
  const index = indexTables(tables);
  // Runs in flight through dv serve --remote: their inputs and their jobs' uploads (job-data.ts).
  const jobs = await jobRoots(remote);
  const { live, broken } = await markRemote(repo, remote, index, [...refs.map((r) => r.commit), ...pins, ...jobs.commits.filter((c) => index.has(c))]);
  if (broken.size) {
    const [id, from] = broken.entries().next().value as [string, string];
    throw new DvError(`remote '${remote.name}' lacks or cannot read ${broken.size} object(s) its refs need `
      + `(e.g. ${id.slice(0, 12)}… from ${from}); deleting nothing`);
  }
  const now = Date.now();
  const result: RemoteGcResult = { remote: remote.name, url: remote.url, dryRun, graceMs, packs: packs.length,
    objects: index.size, liveObjects: [...index.keys()].filter((id) => live.has(id)).length,
    deleted: [], bytesFreed: 0, young: [], partlyDead: [], leasesCleared: 0 };
  for (const p of packs) {
    const entries = tables.get(p.id)!;
    const dead = entries.filter((e) => !live.has(e.id.toString('hex')));
    if (dead.length === 0 || jobs.packs.has(p.id)) continue;
    const report: PackReport = { id: p.id, size: p.size, deadObjects: dead.length, deadBytes: dead.reduce((s, e) => s + e.length, 0) };
    if (dead.length < entries.length) result.partlyDead.push(report);
    else if (!p.lastModified || now - p.lastModified.getTime() < graceMs) result.young.push(report);
    else result.deleted.push(report);
  }
  result.bytesFreed = result.deleted.reduce((s, p) => s + p.size, 0);
  if (dryRun) return result;
  await pool(result.deleted, remote.jobs, (p) => remote.backend.delete(packKey(p.id)));
  for await (const o of remote.backend.list(LOCKS_PREFIX)) {
    if (o.key === lease?.key) continue;
    if (!(await readLiveLease(remote.backend, o.key, now - STALE_LEASE_MS))) {
      await remote.backend.delete(o.key);
      result.leasesCleared++;
    }
  }
  return result;
}

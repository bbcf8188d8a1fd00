// Run retention for dv gc --prune-runs: run records and run-cache entries are gc
// roots (they keep outputs alive so that a run can be skipped later), so without a
// policy nothing a pipeline ever produced is reclaimed. This decides which of them
// stay; gc (src/repo/gc.ts) then sweeps what only the others kept.
import { gc, type GcOptions, type GcResult } from '../repo/gc.js';
import { historyRoots, markReachable, rootIds, rootList, type MarkResult } from '../repo/reachable.js';
import type { Repo } from '../repo/repo.js';
import { BlobType } from '../store/packfile.js';
import { PipelineStore } from './records.js';
import type { DatumState, PipelineState, RunCacheEntry } from './types.js';

/** dv gc, also dropping runs older than `maxAgeMs` that nothing reachable needs (see below). */
export function gcPruningRuns(repo: Repo, maxAgeMs: number, opts: Pick<GcOptions, 'dryRun'> = {}): Promise<GcResult> {
  return gc(repo, {
    ...opts,
    mark: (r) => markKeepingRecentRuns(r, maxAgeMs),
    // The index must not list runs, or claim run-cache hits, whose blobs are gone.
    afterDelete: () => new PipelineStore(repo).pruneIndex(),
  });
}

/**
 * The live set when old runs may go. A run record stays while its run is younger than
 * `maxAgeMs`, made a commit that refs or HEAD reach (the next run finds the pipeline
 * state through it), or produced outputs named in such a commit's state (lineage reads
 * it); a run-cache entry stays with its run's record. Records not indexed and entries
 * of runs without an indexed record have no known age: kept.
 */
export async function markKeepingRecentRuns(repo: Repo, maxAgeMs: number): Promise<MarkResult> {
  const fromRefs = await markReachable(repo, rootList(await historyRoots(repo)));
  const store = new PipelineStore(repo);
  await store.sync(); // records in packs not indexed yet (pulled ones) need their age
  let old = store.runsStartedBefore(new Date(Date.now() - maxAgeMs).toISOString()).filter((r) => !fromRefs.runs.has(r.id));
  if (old.length) {
    const producers = await producerRuns(store, fromRefs.runs);
    old = old.filter((r) => !producers.has(r.id));
  }
  if (old.length === 0) return markReachable(repo, await rootIds(repo), fromRefs);
  const oldRuns = new Set(old.map((r) => r.id));
  const oldRecords = new Set(old.map((r) => r.blob));
  const roots = repo.blobs.idsOfType(BlobType.RunRecord).filter((id) => !oldRecords.has(id));
  for (const id of repo.blobs.idsOfType(BlobType.RunCache)) {
    if (!oldRuns.has(await readRun(store, id))) roots.push(id);
  }
  return markReachable(repo, roots, fromRefs);
}

/** The runs named as producers (DatumState.run) in the pipeline state recorded by `runs`. */
async function producerRuns(store: PipelineStore, runs: Set<string>): Promise<Set<string>> {
  const producers = new Set<string>();
  const add = (datums: Record<string, DatumState> | undefined): void => {
    for (const d of Object.values(datums ?? {})) producers.add(d.run);
  };
  const buckets = new Set<string>(); // shared by the records of consecutive runs: read once
  for (const run of runs) {
    const r = await store.readRecord(run).catch(() => null);
    if (!r?.state) continue;
    if ((r.format as number) === 1) { // state inline
      for (const s of Object.values(r.state as unknown as PipelineState)) add(s.datums);
      continue;
    }
    for (const id of Object.values(r.state).flatMap((s) => s.buckets)) {
      if (!id || buckets.has(id)) continue;
      buckets.add(id);
      add((await store.readDoc<{ datums?: Record<string, DatumState> }>(id).catch(() => null))?.datums); // unreadable: fsck reports it
    }
  }
  return producers;
}

/** The run that wrote a run-cache entry ('' when unreadable: kept, fsck reports it). */
async function readRun(store: PipelineStore, id: string): Promise<string> {
  return String((await store.readDoc<RunCacheEntry>(id).catch(() => null))?.run ?? '');
}

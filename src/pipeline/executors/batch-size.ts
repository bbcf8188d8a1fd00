// How many datums go into each engine batch: `batch: N` makes batches of N; `batch:
// {duration: 30s, default: N}` fills each batch until the datums' expected run times
// add up to the target, taking each datum's time from the run records (its own last
// succeeded run, else the stage's mean over recorded datums) and making batches of
// `default` when the stage has no recorded datum yet. One function sizes both what
// is submitted and what `dv run --dry-run` shows.
import type { Job } from '../executor.js';
import type { PipelineStore } from '../records.js';
import type { StageConfig } from '../types.js';

/** stage -> datum id -> duration (ms) of its latest succeeded run. */
export type Durations = Map<string, Map<string, number>>;

/** Sizes of consecutive batches of `jobs` (all of one stage), in order; they add up to jobs.length. */
export function batchSizes(stage: StageConfig, jobs: Job[], durations?: Durations): number[] {
  const fixed = stage.cluster?.batch ?? 1;
  const target = stage.cluster?.batchDurationMs ?? null;
  const known = target === null ? undefined : durations?.get(stage.name);
  const sizes: number[] = [];
  if (target === null || !known || known.size === 0) {
    for (let i = 0; i < jobs.length; i += fixed) sizes.push(Math.min(fixed, jobs.length - i));
    return sizes;
  }
  const mean = [...known.values()].reduce((a, b) => a + b, 0) / known.size;
  let n = 0;
  let sum = 0;
  for (const j of jobs) {
    const est = Math.max(1, known.get(j.datum.id) ?? mean);
    if (n > 0 && sum + est > target) {
      sizes.push(n);
      n = 0;
      sum = 0;
    }
    n++;
    sum += est;
  }
  if (n) sizes.push(n);
  return sizes;
}

/** Recorded durations of the stages' datums, from the newest `runs` run records (newest wins). */
export async function recordedDurations(store: PipelineStore, stages: string[], runs = 5): Promise<Durations> {
  const out: Durations = new Map(stages.map((s) => [s, new Map()]));
  for (const summary of store.listRuns(runs)) {
    const rec = await store.readRecord(summary.id).catch(() => null);
    for (const s of rec?.stages ?? []) {
      const m = out.get(s.name);
      if (!m) continue;
      for (const d of s.datums) if (d.status === 'succeeded' && !m.has(d.id)) m.set(d.id, d.durationMs);
    }
  }
  return out;
}

// Where each datum sits on a run's timeline. A datum record that carries its own
// `startedAt` is placed there. Records written so far hold durations only, so the
// timeline is then reconstructed the way dv run schedules: stages one after another
// in record order, each stage's datums started in record order on the first of
// `options.jobs` workers to become free. Such slots are marked `estimated`.
import type { RunRecord } from '../../pipeline/types.js';

export interface Slot {
  /** Milliseconds after the run started. */
  startMs: number;
  /** Worker the datum ran on (0-based). */
  lane: number;
  estimated: boolean;
}

export function schedule(record: RunRecord): Map<string, Slot[]> {
  const out = new Map<string, Slot[]>();
  const runStart = Date.parse(record.startedAt);
  const jobs = Math.max(1, record.options?.jobs || 1);
  let stageStart = 0;
  for (const s of record.stages) {
    const free = new Array<number>(jobs).fill(stageStart);
    const slots: Slot[] = [];
    let stageEnd = stageStart;
    for (const d of s.datums) {
      const given = (d as { startedAt?: string }).startedAt;
      let lane = 0;
      for (let i = 1; i < jobs; i++) if (free[i]! < free[lane]!) lane = i;
      const startMs = given ? Math.max(0, Date.parse(given) - runStart) : free[lane]!;
      free[lane] = startMs + d.durationMs;
      stageEnd = Math.max(stageEnd, startMs + d.durationMs);
      slots.push({ startMs, lane, estimated: !given });
    }
    out.set(s.name, slots);
    stageStart = stageEnd;
  }
  return out;
}

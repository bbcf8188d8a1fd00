// Where each datum sits on a run's timeline. A datum record that carries its own
// `startedAt` (dv run writes it since records kept it) is placed there, on the first
// lane free at that moment, taken in order of start, so parallel datums stack as they
// really ran. Older records hold durations only: their timeline is reconstructed the
// way dv run schedules (stages one after another in record order, each stage's datums
// started in record order on the first of `options.jobs` workers to become free), and
// such slots are marked `estimated`. Datums that did not run (cached, removed) have no
// start: they are put at their stage's start, estimated.
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
    const slots: Slot[] = new Array(s.datums.length);
    const timed: { i: number; start: number }[] = [];
    const free = new Array<number>(jobs).fill(stageStart);
    let stageEnd = stageStart;
    s.datums.forEach((d, i) => {
      const t = d.startedAt ? Date.parse(d.startedAt) : NaN;
      if (!Number.isNaN(t)) return void timed.push({ i, start: Math.max(0, t - runStart) });
      if (d.attempts === 0) return void (slots[i] = { startMs: stageStart, lane: 0, estimated: true });
      let lane = 0;
      for (let k = 1; k < jobs; k++) if (free[k]! < free[lane]!) lane = k;
      slots[i] = { startMs: free[lane]!, lane, estimated: true };
      free[lane] = free[lane]! + d.durationMs;
      stageEnd = Math.max(stageEnd, free[lane]!);
    });
    const ends: number[] = []; // per lane, when its last datum ended
    for (const { i, start } of timed.sort((a, b) => a.start - b.start)) {
      // Start times are whole milliseconds and durations rounded: allow 1 ms of either.
      let lane = ends.findIndex((e) => e <= start + 1);
      if (lane < 0) lane = ends.push(0) - 1;
      ends[lane] = start + s.datums[i]!.durationMs;
      slots[i] = { startMs: start, lane, estimated: false };
      stageEnd = Math.max(stageEnd, ends[lane]!);
    }
    out.set(s.name, slots);
    stageStart = stageEnd;
  }
  return out;
}

// How V8 collects a command's garbage, for the commands whose heap has a shape V8's
// defaults serve badly. Each policy is set at the command's start, before it allocates.
import v8 from 'node:v8';

/**
 * dv run, dv exp run. A run's heap is mostly its plan: the stages' state, the
 * workspace's hashes and an entry per input, all of it live until the run ends. Once the
 * heap nears its limit, V8 starts marking it from a task that runs when the process is
 * idle, and a run is idle exactly while it waits for a datum's command. The marking then
 * takes the CPU from the command (two cores here) and frees almost nothing: on 10,000
 * inputs it cost a run of 10 changed datums ~70 ms of its ~120 ms datum phase, to free
 * 6 MB of 39 (bench/pipeline.sh). Without the idle-time task, marking starts when
 * allocation reaches the limit, as for any other allocation: memory stays bounded as
 * before; only the trigger that fires while a command runs is gone.
 */
export function runHeapPolicy(): void {
  v8.setFlagsFromString('--no-incremental-marking-task');
}

/**
 * dv add, dv commit. Storing a tree leaves garbage in the old generation (likely the
 * per-file objects a directory holds while it is open, which outlive young-generation
 * collections); with V8's default heap growth the old generation grew to ~140 MB
 * committed for ~30 MB live (--trace-gc), and a first
 * `dv add` of 1,000,000 files peaked at 357-379 MiB (git add: 231 MiB). V8's
 * memory-saving mode (smaller young generation, slower heap growth) brings that peak to
 * 249-264 MiB at the same speed (25-30 s vs 24-36 s). It costs a large-file add more
 * collections: 1 GiB in 2.30-2.87 s (median 2.37) vs 2.19-2.28 s (median 2.20) without
 * it, 4 alternating runs each; a gentler setting (--heap-growing-percent=5
 * --max-semi-space-size=8: 261 MiB) cost as much (2.23-2.43 s). Set later, once the scan
 * has counted the files, the flag made the same add take 110 s: V8 reads it at start.
 */
export function ingestHeapPolicy(): void {
  v8.setFlagsFromString('--optimize-for-size');
}

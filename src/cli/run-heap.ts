// How V8 collects this process's garbage while it runs a pipeline (dv run, dv exp run).
// A run's heap is mostly its plan: the stages' state, the workspace's hashes and an entry
// per input, all of it live until the run ends. Once the heap nears its limit, V8 starts
// marking it from a task that runs when the process is idle, and a run is idle exactly
// while it waits for a datum's command. The marking then takes the CPU from the command
// (two cores here) and frees almost nothing: on 10,000 inputs it cost a run of 10 changed
// datums ~70 ms of its ~120 ms datum phase, to free 6 MB of 39 (bench/pipeline.sh).
// Without the idle-time task, marking starts when allocation reaches the limit, as for
// any other allocation: memory stays bounded as before; only the trigger that fires
// while a command runs is gone. Set at the command's start, before the run allocates.
import v8 from 'node:v8';

export function runHeapPolicy(): void {
  v8.setFlagsFromString('--no-incremental-marking-task');
}

// The durable part of a cluster executor: which engine job runs which datum, by the
// datum's run-cache key, one JSON line per submitted batch in .dv/cluster/<engine>.jsonl.
// A `dv run` killed while its jobs run leaves the lines behind; the next run finds
// each datum's job here and waits for it (or takes its finished result) instead of
// launching the datum again. A datum's entry is dropped once its result was taken.
import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface JournalTask {
  /** The datum's run-cache key. */
  key: string;
  /** Index in the batch (the array task id, the completion index). */
  index: number;
  datum: string;
  /** Slurm: the array task that runs it (batches of uneven size); absent: index / per. */
  array?: number;
}

export interface JournalBatch {
  /** The engine's id of the batch (Slurm array job id, Kubernetes Job name). */
  job: string;
  /** The batch's directory (task results, scratch). */
  dir: string;
  stage: string;
  /** Datums per engine task (Slurm: per array task); index / per is the task. */
  per?: number;
  tasks: JournalTask[];
}

type Line = JournalBatch | { drop: string[] };

export class ClusterJournal {
  private byKey: Map<string, { batch: JournalBatch; task: JournalTask }> | null = null;

  constructor(private readonly file: string) {}

  private load(): Map<string, { batch: JournalBatch; task: JournalTask }> {
    if (this.byKey) return this.byKey;
    this.byKey = new Map();
    let text = '';
    try { text = readFileSync(this.file, 'utf8'); } catch { /* none yet */ }
    for (const l of text.split('\n')) {
      let line: Line;
      try { line = JSON.parse(l) as Line; } catch { continue; } // a torn last line of a killed run
      if ('drop' in line) for (const k of line.drop) this.byKey.delete(k);
      else for (const task of line.tasks) this.byKey.set(task.key, { batch: line, task });
    }
    return this.byKey;
  }

  /** The batch and task a datum was submitted in, if its result was not taken yet. */
  find(key: string): { batch: JournalBatch; task: JournalTask } | undefined {
    return this.load().get(key);
  }

  /** Whether an open entry still lives in this batch directory. */
  hasDir(dir: string): boolean {
    for (const e of this.load().values()) if (e.batch.dir === dir) return true;
    return false;
  }

  add(batch: JournalBatch): void {
    const m = this.load();
    mkdirSync(dirname(this.file), { recursive: true });
    appendFileSync(this.file, JSON.stringify(batch) + '\n');
    for (const task of batch.tasks) m.set(task.key, { batch, task });
  }

  drop(keys: string[]): void {
    const m = this.load();
    const known = keys.filter((k) => m.has(k));
    if (known.length === 0) return;
    for (const k of known) m.delete(k);
    appendFileSync(this.file, JSON.stringify({ drop: known }) + '\n');
  }

  /** Rewrites the file with the entries still open (none: removes it). */
  compact(): void {
    const m = this.load();
    if (m.size === 0) {
      rmSync(this.file, { force: true });
      return;
    }
    const batches = new Map<JournalBatch, JournalTask[]>();
    for (const { batch, task } of m.values()) batches.set(batch, [...(batches.get(batch) ?? []), task]);
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, [...batches].map(([b, tasks]) => JSON.stringify({ ...b, tasks }) + '\n').join(''));
    renameSync(tmp, this.file);
  }
}

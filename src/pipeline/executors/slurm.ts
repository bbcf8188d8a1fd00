// The Slurm executor: the jobs of a stage in flight are batched (`batch: N`, or by
// duration: batch-size.ts), and the batches go to Slurm as one `sbatch --array` job,
// array task k running batch k's datums one after the other (slurm-script.ts). With
// `data: shared` the project directory is shared with the nodes: a task writes its
// outputs to its scratch directory under .dv/cluster/slurm/<batch>/<i>, and its exit
// status and start time next to it. With `data: s3` the tasks move their data
// through dv serve (served-data.ts) and their status arrives on the upload branch.
// dv polls those and squeue for the tasks'
// states; a task that left Slurm without a status (scancel, node failure, preemption,
// time limit) is a failed attempt, retried per `retries` by the scheduler. Cancelling
// the run scancels its tasks. Each batch is journalled by datum cache key before dv
// waits on it, so a restarted `dv run` re-attaches instead of submitting again.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Executor, Job, JobResult } from '../executor.js';
import type { StageConfig } from '../types.js';
import { Batcher } from './batcher.js';
import { ClusterJournal } from './cluster-journal.js';
import { collectScratch } from './collect.js';
import { armTask, exitError, logTail, settleTask, unreported } from './cluster-task.js';
import { dataMode } from '../config-cluster.js';
import { batchSizes, type Durations } from './batch-size.js';
import type { ServedData } from './served-data.js';
import { arrayTask, arrayTasks, sbatchScript, sbatchServedScript } from './slurm-script.js';
import { taskSpec } from './task-spec.js';
import type { JobIoSpec } from './job-io.js';

export interface SlurmExecutorOptions {
  /** Project root, as the nodes see it (shared filesystem). */
  root: string;
  /** The repository's .dv directory: batches under cluster/slurm/, the journal cluster/slurm.jsonl. */
  dvDir: string;
  /** Time between status polls; default 500 ms (env DV_SLURM_POLL_MS). */
  pollMs?: number;
  lingerMs?: number;
  maxLogBytes?: number;
  /** Moves the data of `data: s3` stages through dv serve. */
  served?: ServedData;
  /** Recorded datum durations, for `batch: {duration}`. */
  durations?: Durations;
}

/** Job states in which a task may still report (squeue's long names). */
const ACTIVE = new Set(['PENDING', 'RUNNING', 'CONFIGURING', 'COMPLETING', 'SUSPENDED', 'REQUEUED', 'REQUEUE_HOLD',
  'REQUEUE_FED', 'RESIZING', 'SIGNALING', 'STAGE_OUT', 'STOPPED']);

const SUBMITTERS = 4;
/** Array tasks per sbatch (Slurm's default MaxArraySize is 1001). */
export const MAX_ARRAY = 1000;
const perBatch = (stage: StageConfig): number => stage.cluster?.batch ?? 1;
const isServed = (stage: StageConfig): boolean => dataMode(stage.cluster, 'slurm') === 's3';

type TaskState = 'queued' | 'submitting' | 'waiting' | 'done';

interface Task {
  job: Job;
  resolve: (r: JobResult) => void;
  state: TaskState;
  cancelled: boolean;
  dir: string;
  index: number;
  /** Through dv serve (data: s3): the batch's id on the upload branch. */
  served: string | null;
  engineId: string;
  submittedAt: Date;
  misses: number;
  signal?: AbortSignal;
  onAbort?: () => void;
}

function exec(file: string, args: string[], cwd: string, env?: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, maxBuffer: 64 << 20, env: env ? { ...process.env, ...env } : undefined }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr || (err && code === 127 ? err.message : '')) });
    });
  });
}

/** `12_3|RUNNING` lines (and pending ranges `12_[4-7,9]`) to task id -> state. */
export function parseQueue(text: string): Map<string, string> {
  const states = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [id, state] = line.trim().split('|');
    if (!id || !state) continue;
    const m = /^(\d+)_\[([\d,-]+)(?:%\d+)?\]$/.exec(id);
    if (!m) {
      states.set(id, state);
      continue;
    }
    for (const part of m[2]!.split(',')) {
      const [a, b] = part.split('-').map(Number);
      for (let i = a!; i <= (b ?? a!); i++) states.set(`${m[1]}_${i}`, state);
    }
  }
  return states;
}

function why(state: string | undefined, stage: StageConfig): string {
  if (state === 'TIMEOUT') return `timed out${stage.timeoutSec ? ` after ${stage.timeoutSec}s` : ''} (Slurm time limit)`;
  if (state === 'PREEMPTED' || state === 'NODE_FAIL' || state === 'BOOT_FAIL') return `lost to ${state.toLowerCase().replace('_', ' ')}`;
  if (state === 'OUT_OF_MEMORY') return 'ran out of memory (Slurm)';
  return state ? `ended ${state} without a result` : 'left the Slurm queue without a result';
}

export class SlurmExecutor implements Executor {
  readonly name = 'slurm';
  private readonly batches: string;
  private readonly journal: ClusterJournal;
  private readonly batcher: Batcher<Task>;
  private readonly waiting = new Set<Task>();
  private readonly touched = new Set<string>();
  private poller: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private cancelling: Promise<unknown>[] = [];
  private toCancel: string[] = [];
  private submitters = 0;
  private readonly queue: (() => void)[] = [];
  /** Datums taken over from an earlier run's jobs (tests count them). */
  reattached = 0;

  constructor(private readonly opts: SlurmExecutorOptions) {
    this.batches = join(opts.dvDir, 'cluster', 'slurm');
    this.journal = new ClusterJournal(join(opts.dvDir, 'cluster', 'slurm.jsonl'));
    this.batcher = new Batcher((_stage, tasks) => void this.submit(tasks), opts.lingerMs);
  }

  inFlight(): number {
    return Number.MAX_SAFE_INTEGER; // every datum is handed over; the cluster's scheduler decides what runs
  }

  run(job: Job, signal?: AbortSignal): Promise<JobResult> {
    return new Promise((resolve) => {
      const task: Task = { job, resolve, state: 'queued', cancelled: false, dir: '', index: -1, served: null, engineId: '', submittedAt: new Date(), misses: 0, signal };
      const prior = armTask(task, this.journal, () => this.cancel(task), () => this.failure(task, 'cancelled', 'cancelled'));
      if (prior === false) return;
      if (prior) {
        this.reattached++;
        const engineId = `${prior.batch.job}_${prior.task.array ?? arrayTask(prior.task.index, prior.batch.per ?? 1)}`;
        Object.assign(task, { dir: prior.batch.dir, index: prior.task.index, engineId, served: isServed(job.stage) ? basename(prior.batch.dir) : null });
        this.touched.add(task.dir);
        return this.watch(task);
      }
      this.batcher.add(job.stage.name, job.stage.cluster?.batchDurationMs ? MAX_ARRAY : perBatch(job.stage) * MAX_ARRAY, task);
    });
  }

  /** The script a batch of these jobs would be submitted as, and where it would live. */
  /**
   * The script a batch of these jobs would be submitted as, where it would live, and
   * its array tasks' sizes. `specs`: the batch's job-io specs (data: s3).
   */
  script(jobs: Job[], id = randomBytes(6).toString('hex'), specs?: JobIoSpec[]): { dir: string; name: string; text: string; sizes: number[] } {
    const stage = jobs[0]!.stage;
    const dir = join(this.batches, id);
    const name = `dv-${stage.name}-${id}`;
    const sizes = batchSizes(stage, jobs, this.opts.durations);
    if (specs) return { dir, name, sizes, text: sbatchServedScript(stage, name, specs, sizes) };
    const tasks = jobs.map((j, i) => taskSpec(j, this.opts.root, join(dir, String(i))));
    return { dir, name, sizes, text: sbatchScript(stage, dir, name, tasks, sizes) };
  }

  private async submit(tasks: Task[]): Promise<void> {
    const id = randomBytes(6).toString('hex');
    const jobs = tasks.map((t) => t.job);
    let served: { env: Record<string, string>; specs: JobIoSpec[] } | null = null;
    if (isServed(jobs[0]!.stage)) {
      try {
        if (!this.opts.served) throw new Error('data: s3 needs a dv serve endpoint for the jobs, and this run has none');
        served = await this.opts.served.prepare(jobs, id, `/tmp/dv-${id}`);
      } catch (e) {
        for (const t of tasks) this.settle(t, this.failure(t, 'failed', `data through dv serve: ${(e as Error).message}`));
        return;
      }
    }
    const { dir, text, sizes } = this.script(jobs, id, served?.specs);
    const arrays = arrayTasks(sizes);
    tasks.forEach((t, i) => Object.assign(t, { state: 'submitting', dir, index: i, served: served ? id : null, submittedAt: new Date() }));
    this.touched.add(dir);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'batch.sh'), text, { mode: 0o755 });
    const r = await this.limited(() => exec('sbatch', ['--parsable', join(dir, 'batch.sh')], this.opts.root, served?.env));
    const jobId = r.stdout.trim().split(';')[0]!;
    if (r.code !== 0 || !/^\d+$/.test(jobId)) {
      const msg = `sbatch failed: ${(r.stderr.trim().split('\n').pop() ?? '') || `exit status ${r.code}`}`;
      for (const t of tasks) this.settle(t, this.failure(t, 'failed', msg));
      return;
    }
    this.journal.add({
      job: jobId, dir, stage: tasks[0]!.job.stage.name, per: perBatch(tasks[0]!.job.stage),
      tasks: tasks.filter((t) => t.job.cacheKey).map((t) => ({ key: t.job.cacheKey!, index: t.index, datum: t.job.datum.id, array: arrays[t.index]! })),
    });
    for (const t of tasks) {
      t.engineId = `${jobId}_${arrays[t.index]!}`;
      if (t.cancelled) this.scancel(t.engineId);
      else this.watch(t);
    }
  }

  /** At most SUBMITTERS sbatch calls at a time: slurmctld answers them one by one anyway. */
  private limited<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve) => {
      const start = (): void => {
        this.submitters++;
        void fn().then(resolve).finally(() => {
          this.submitters--;
          this.queue.shift()?.();
        });
      };
      if (this.submitters < SUBMITTERS) start();
      else this.queue.push(start);
    });
  }

  private watch(t: Task): void {
    t.state = 'waiting';
    this.waiting.add(t);
    this.schedulePoll();
  }

  private schedulePoll(): void {
    if (this.poller || this.polling || this.waiting.size === 0) return;
    const ms = this.opts.pollMs ?? (Number(process.env.DV_SLURM_POLL_MS) || 500);
    this.poller = setTimeout(() => {
      this.poller = null;
      this.polling = this.poll().finally(() => {
        this.polling = null;
        this.schedulePoll();
      });
    }, ms);
  }

  private async poll(): Promise<void> {
    const jobs = [...new Set([...this.waiting].map((t) => t.engineId.split('_')[0]!))];
    if (jobs.length === 0) return;
    const q = await exec('squeue', ['-h', '-r', '-t', 'all', '-j', jobs.join(','), '-o', '%i|%T'], this.opts.root);
    // squeue down (slurmctld restarting): no state known, nothing counted as lost this round
    const known = q.code === 0 || /Invalid job id/i.test(q.stderr);
    const states = parseQueue(q.stdout);
    const arrived = [...this.waiting].some((t) => t.served) ? await this.opts.served!.finished() : new Set<string>();
    for (const t of [...this.waiting]) {
      if (t.served ? arrived.has(`${t.served}/${t.index}`) : existsSync(join(t.dir, `${t.index}.rc`))) {
        this.waiting.delete(t);
        void this.complete(t);
        continue;
      }
      const st = states.get(t.engineId);
      if (!known || (st && ACTIVE.has(st))) {
        t.misses = 0;
        continue;
      }
      if (++t.misses < 2) continue; // its status file may be on its way (shared filesystems lag)
      this.waiting.delete(t);
      this.settle(t, this.failure(t, 'failed', `Slurm job ${t.engineId} ${why(st, t.job.stage)}`));
    }
  }

  private async complete(t: Task): Promise<void> {
    if (t.served) return this.completeServed(t);
    const f = (ext: string): string => join(t.dir, `${t.index}.${ext}`);
    const read = (p: string): Promise<Buffer> => readFile(p).catch(() => Buffer.alloc(0));
    const [rc, start, out, err, end] = await Promise.all([read(f('rc')), read(f('start')), read(f('out')), read(f('err')), stat(f('rc')).catch(() => null)]);
    const max = this.opts.maxLogBytes ?? 1 << 20;
    const so = logTail(out, max);
    const se = logTail(err, max);
    const code = Number(rc.toString().trim());
    const startMs = Number(start.toString().trim()) || t.submittedAt.getTime();
    const base = {
      exitCode: Number.isInteger(code) ? code : null, signal: null, stdout: so.data, stderr: se.data, truncated: so.truncated || se.truncated,
      startedAt: new Date(startMs).toISOString(), durationMs: Math.max(0, Math.round((end?.mtimeMs ?? Date.now()) - startMs)),
      engineJob: t.engineId, dispose: () => this.dispose(t),
    };
    if (code !== 0) {
      const error = exitError(code, rc.toString().trim() || '?');
      return this.settle(t, { ...base, status: 'failed', error, outputs: [] });
    }
    const outputs = await collectScratch(t.job, join(t.dir, String(t.index)));
    if (typeof outputs === 'string') return this.settle(t, { ...base, status: 'failed', error: outputs, outputs: [] });
    this.settle(t, { ...base, status: 'succeeded', error: null, outputs });
  }

  /** A data: s3 datum: status, logs and checked outputs from the upload branch. */
  private async completeServed(t: Task): Promise<void> {
    const r = await this.opts.served!.result(t.served!, t.index, join(t.dir, String(t.index)));
    const max = this.opts.maxLogBytes ?? 1 << 20;
    const so = logTail(r.stdout, max);
    const se = logTail(r.stderr, max);
    const start = r.status?.start ?? t.submittedAt.getTime();
    const code = r.status?.rc ?? null;
    const base = {
      exitCode: code, signal: null, stdout: so.data, stderr: se.data, truncated: so.truncated || se.truncated,
      startedAt: new Date(start).toISOString(), durationMs: Math.max(0, (r.status?.end ?? Date.now()) - start), engineJob: t.engineId, dispose: () => this.dispose(t),
    };
    const error = r.error ?? (code !== 0 ? exitError(code) : null);
    this.settle(t, error ? { ...base, status: 'failed', error, outputs: [] } : { ...base, status: 'succeeded', error: null, outputs: r.outputs });
  }

  private failure(t: Task, status: 'failed' | 'cancelled', error: string): JobResult {
    return unreported(t, status, error, t.engineId || null, () => this.dispose(t));
  }

  private settle(t: Task, r: JobResult): void {
    settleTask(t, r, this.journal);
  }

  private cancel(t: Task): void {
    if (t.state === 'queued') this.batcher.remove(t.job.stage.name, t);
    if (t.state === 'submitting') t.cancelled = true; // scancelled once sbatch said its id
    if (t.state === 'waiting') {
      this.waiting.delete(t);
      this.scancel(t.engineId);
    }
    this.settle(t, this.failure(t, 'cancelled', 'cancelled'));
  }

  /** scancel, once for all the tasks cancelled in the same turn. */
  private scancel(id: string): void {
    this.toCancel.push(id);
    if (this.toCancel.length > 1) return;
    this.cancelling.push(new Promise<void>((resolve) => setImmediate(() => {
      const ids = this.toCancel.splice(0);
      void exec('scancel', ids, this.opts.root).then(() => resolve());
    })));
  }

  private async dispose(t: Task): Promise<void> {
    if (t.job.cacheKey) this.journal.drop([t.job.cacheKey]);
    if (!t.dir) return;
    await Promise.all(['rc', 'start', 'out', 'err'].map((e) => rm(join(t.dir, `${t.index}.${e}`), { force: true })));
    await rm(join(t.dir, String(t.index)), { recursive: true, force: true });
  }

  async close(): Promise<void> {
    if (this.poller) clearTimeout(this.poller);
    this.poller = null;
    await this.polling;
    await Promise.all(this.cancelling);
    this.journal.compact();
    const open = new Set<string>();
    for (const t of this.waiting) open.add(t.dir);
    for (const dir of this.touched) if (!open.has(dir) && !this.journal.hasDir(dir)) await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined); // a cancelled task may still be writing there
  }
}

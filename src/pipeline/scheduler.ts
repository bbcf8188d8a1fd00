// Retries and concurrency, independent of how a job runs, so every executor gets them.
import type { Executor, Job, JobResult } from './executor.js';

export interface RetryPolicy {
  /** Extra attempts after the first failure. */
  retries: number;
  /** Delay before the first retry; doubles each time. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface AttemptSummary {
  attempt: number;
  status: JobResult['status'];
  exitCode: number | null;
  error: string | null;
  durationMs: number;
  /** When the attempt started (ISO 8601). */
  startedAt: string;
}

export interface RetriedResult extends JobResult {
  attempts: AttemptSummary[];
}

export function backoffMs(attempt: number, base = 1000, max = 30_000): number {
  return Math.min(max, base * 2 ** (attempt - 1));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs a job until it succeeds, is cancelled or runs out of attempts (backoff 2^n). */
export async function runWithRetries(executor: Executor, job: Omit<Job, 'attempt'>, policy: RetryPolicy,
  signal?: AbortSignal, onRetry?: (failed: AttemptSummary, delayMs: number) => void): Promise<RetriedResult> {
  const attempts: AttemptSummary[] = [];
  for (let attempt = 1; ; attempt++) {
    const r = await executor.run({ ...job, attempt }, signal);
    const summary = { attempt, status: r.status, exitCode: r.exitCode, error: r.error, durationMs: r.durationMs, startedAt: r.startedAt };
    attempts.push(summary);
    if (r.status !== 'failed' || attempt > policy.retries || signal?.aborted) return { ...r, attempts };
    await r.dispose();
    const delay = backoffMs(attempt, policy.baseDelayMs, policy.maxDelayMs);
    onRetry?.(summary, delay);
    await sleep(delay, signal);
    if (signal?.aborted) return { ...r, status: 'cancelled', error: 'cancelled', attempts };
  }
}

export interface PoolOptions<T, R> {
  concurrency: number;
  signal?: AbortSignal;
  /** Keep starting items after one failed (default: stop starting, let running ones finish). */
  keepGoing?: boolean;
  isFailure?: (r: R) => boolean;
  /** Called as each item finishes, before its worker takes the next one. */
  onDone?: (item: T, result: R, index: number) => void | Promise<void>;
}

export interface PoolResult<R> {
  /** Per item, in input order; undefined for items never started. */
  results: (R | undefined)[];
  failed: boolean;
}

/**
 * Runs `work` over `items` with at most `concurrency` in flight, starting them in
 * the given order (backfill order is preserved at -j 1 and approximately above).
 */
export async function runPool<T, R>(items: T[], work: (item: T, index: number) => Promise<R>,
  opts: PoolOptions<T, R>): Promise<PoolResult<R>> {
  const results: (R | undefined)[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < items.length && !opts.signal?.aborted && !(failed && !opts.keepGoing)) {
      const i = next++;
      const r = await work(items[i]!, i);
      results[i] = r;
      if (opts.isFailure?.(r)) failed = true;
      await opts.onDone?.(items[i]!, r, i);
    }
  };
  const n = Math.max(1, Math.min(Math.floor(opts.concurrency) || 1, items.length));
  await Promise.all(Array.from({ length: n }, worker));
  return { results, failed };
}

/**
 * At most `n` holders at once, served in arrival order. The stage runner holds one
 * while a datum's command runs, so dv's own work on a datum (setting its outputs
 * aside, storing what it wrote) overlaps the next datum's command even at -j 1.
 */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

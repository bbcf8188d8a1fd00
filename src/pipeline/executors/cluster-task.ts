// What the cluster executors share about one datum's job while an engine runs it:
// the result of a job that never reported (failed to submit, lost, cancelled), its
// log tail and exit error, and
// settling a job once (the run's abort listener removed, a failed or cancelled
// attempt dropped from the journal so a later run launches the datum anew).
import type { Job, JobResult } from '../executor.js';
import type { ClusterJournal, JournalBatch, JournalTask } from './cluster-journal.js';

export interface ClusterTask {
  job: Job;
  state: string;
  submittedAt: Date;
  resolve: (r: JobResult) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export function unreported(t: ClusterTask, status: 'failed' | 'cancelled', error: string, engineJob: string | null,
  dispose: () => Promise<void>): JobResult {
  return {
    status, exitCode: null, signal: null, error, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), truncated: false,
    startedAt: t.submittedAt.toISOString(), durationMs: Date.now() - t.submittedAt.getTime(), outputs: [],
    ...(engineJob ? { engineJob } : {}), dispose,
  };
}

/** The last `max` bytes of a datum's log, and whether any were cut. */
export function logTail(buf: Buffer, max: number): { data: Buffer; truncated: boolean } {
  return buf.length > max ? { data: buf.subarray(buf.length - max), truncated: true } : { data: buf, truncated: false };
}

/** The error of a datum whose command exited with `code` (a shell's 128+N is signal N); `shown` is how its status prints. */
export function exitError(code: number | null, shown = code === null ? '?' : String(code)): string {
  return code !== null && code > 128 ? `killed by signal ${code - 128}` : `exited with status ${shown}`;
}

export function settleTask(t: ClusterTask, r: JobResult, journal: ClusterJournal): void {
  if (t.state === 'done') return;
  t.state = 'done';
  if (t.onAbort) t.signal?.removeEventListener('abort', t.onAbort);
  if (r.status !== 'succeeded' && t.job.cacheKey) journal.drop([t.job.cacheKey]);
  t.resolve(r);
}

/**
 * Starts a task: cancelled at once when the run already is (false), else listening for
 * the run's abort; returns the journal entry of an earlier run's job for this datum
 * (first attempts only: a retry is a new submission), or null.
 */
export function armTask(t: ClusterTask, journal: ClusterJournal, cancel: () => void, cancelled: () => JobResult):
  { batch: JournalBatch; task: JournalTask } | null | false {
  if (t.signal?.aborted) {
    settleTask(t, cancelled(), journal);
    return false;
  }
  t.onAbort = cancel;
  t.signal?.addEventListener('abort', cancel, { once: true });
  return (t.job.cacheKey && t.job.attempt === 1 ? journal.find(t.job.cacheKey) : undefined) ?? null;
}

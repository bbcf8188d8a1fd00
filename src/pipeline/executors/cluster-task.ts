// What the cluster executors share about one datum's job while an engine runs it:
// the result of a job that never reported (failed to submit, lost, cancelled), and
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

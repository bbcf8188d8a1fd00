// Executors run one datum's command. The planner never sees them: a job names the
// stage, the datum and the params, and each executor lays out paths its own way
// (LocalExecutor: a scratch directory under .dv/tmp; a container executor would
// mount volumes) and hands back the output files for the caller to store.
// Each executor is its own file under executors/, chosen per stage by executors/index.ts.
import type { Datum, Params, StageConfig } from './types.js';

/** Written into each local job's scratch directory: {runId, stage, datum, attempt, startedAt}. */
export const JOB_FILE = '.dv-job.json';

export interface Job {
  runId: string;
  stage: StageConfig;
  datum: Datum;
  /** Effective params (the stage reads the ones in stage.params). */
  params: Params;
  /** 1 for the first attempt. */
  attempt: number;
  /**
   * The caller moved this datum's previous outputs aside (see inPlaceTargets), so
   * whatever is at those workspace paths after the command is what it wrote: each
   * attempt starts with them cleared (persist outs excepted) and a failed one leaves
   * none of its partial files there.
   */
  inPlace?: boolean;
  /** Extra environment for this job alone (a job key's AWS_* and DV_ENDPOINT). */
  env?: Record<string, string>;
  /**
   * The datum's run-cache key: a cluster executor journals its engine jobs under it,
   * so a restarted run re-attaches to a job instead of launching the datum again.
   */
  cacheKey?: string;
  /**
   * Waits for this job's turn to start its command (the run's -j), given to executors
   * that say `prepares`: they make the job's scratch space and environment first and
   * call it just before the command starts, so that this preparation overlaps another
   * job's command. False: the stage stopped meanwhile; the job then ends, not started,
   * as cancelled. Safe to call again (a retry): it does not wait twice.
   */
  turn?: () => Promise<boolean>;
}

/**
 * Workspace paths a job may write its outputs to directly, as DVC commands do: a
 * foreach datum its own part of the outs directory, any other stage its outs.
 */
export function inPlaceTargets(stage: StageConfig, datum: Datum): string[] {
  return stage.foreach !== null ? (datum.out === null ? [] : [datum.out]) : stage.outs;
}

export interface JobOutput {
  /** Project-relative path the file belongs at. */
  path: string;
  /** Where the executor left the bytes (a local file the caller may rename). */
  file: string;
  /** Written where it belongs in the workspace (file is that path): nothing to move. */
  inPlace?: boolean;
  size: number;
  mode: number;
}

export interface JobResult {
  status: 'succeeded' | 'failed' | 'cancelled';
  exitCode: number | null;
  signal: string | null;
  /** Why the job failed, in words; null on success. */
  error: string | null;
  stdout: Buffer;
  stderr: Buffer;
  truncated: boolean;
  startedAt: string;
  durationMs: number;
  outputs: JobOutput[];
  /** The engine's id of the job that ran it (Slurm `12_3`); absent for local processes. */
  engineJob?: string;
  /** Frees the executor's space for this job; call once the outputs were moved or stored. */
  dispose(): Promise<void>;
}

export interface Executor {
  readonly name: string;
  /**
   * Jobs of this stage worth handing over at once: a cluster executor batches the
   * jobs in flight into engine jobs, so it wants all of them (default: the run's -j).
   */
  inFlight?(stage: StageConfig, jobs: number): number;
  /** Calls Job.turn itself, once the job is ready to start (otherwise the caller waits for it first). */
  readonly prepares?: boolean;
  run(job: Job, signal?: AbortSignal): Promise<JobResult>;
  /** Frees what the executor keeps between jobs; called once the run is over. */
  close?(): Promise<void>;
}

// S3 access for the jobs of a run: a stage with `s3: true` or an identity gets a
// temporary key made for each job alone (src/repo/job-keys.ts) that reads the version
// the run's inputs come from and writes only the run's output branch, handed over as
// the usual AWS_* variables plus DV_ENDPOINT and DV_BUCKET, and revoked when the job
// ends. The endpoint is started on first need through a callback the caller supplies
// (the CLI's in-process `dv serve` on loopback), since the pipeline does not import
// the proxy; it stops when the run ends.
import { matchesAny } from '../repo/access-keys.js';
import { jobCredentialEnv, mintJobKey, revokeJobKey } from '../repo/job-keys.js';
import type { Repo } from '../repo/repo.js';
import { DvError } from '../store/errors.js';
import type { IdentityConfig } from './config-sandbox.js';
import type { Executor, Job, JobResult } from './executor.js';

export interface JobEndpoint {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  /** The bucket the repository is served as. */
  bucket: string;
  stop(): Promise<void>;
}

export type StartJobEndpoint = (repo: Repo) => Promise<JobEndpoint>;

export interface JobAccessOptions {
  repo: Repo;
  runId: string;
  /** The run's output branch: the only thing a job key may write. */
  branch: string;
  /** The commit the run's inputs come from (null in an empty repository). */
  base: string | null;
  identities: Map<string, IdentityConfig>;
  start?: StartJobEndpoint;
}

/** A key's life: one extra hour over the stage's timeout, or an hour. */
const ttlOf = (job: Job): number => Math.min(12 * 3600, Math.ceil(job.stage.timeoutSec ?? 0) + 3600);

export class JobAccess {
  private endpoint: Promise<JobEndpoint> | null = null;

  constructor(private readonly opts: JobAccessOptions) {}

  /** The environment granting this job its S3 access, and how to revoke it; null when the stage asks for none. */
  async grant(job: Job): Promise<{ env: Record<string, string>; revoke(): Promise<void> } | null> {
    const iso = job.stage.isolation;
    if (!iso?.s3) return null;
    const start = this.opts.start;
    if (!start) throw new DvError(`stage ${job.stage.name} asks for S3 access (s3: true or an identity), but this run has no dv serve endpoint`);
    this.endpoint ??= start(this.opts.repo);
    const ep = await this.endpoint;
    const identity = iso.identity;
    const limit = identity ? this.opts.identities.get(identity)?.write ?? null : null;
    const write = limit === null || matchesAny(limit, this.opts.branch) ? [this.opts.branch] : [];
    const read = this.opts.base ? [this.opts.base] : [];
    if (read.length + write.length === 0) return null;
    const creds = await mintJobKey(this.opts.repo, { read, write, ttlSeconds: ttlOf(job), identity, runId: this.opts.runId });
    return {
      env: { ...jobCredentialEnv(creds, ep.url), DV_BUCKET: ep.bucket, DV_BASE_COMMIT: this.opts.base ?? '' },
      revoke: () => revokeJobKey(this.opts.repo, creds.accessKeyId),
    };
  }

  async close(): Promise<void> {
    const ep = this.endpoint;
    this.endpoint = null;
    if (ep) await (await ep.catch(() => null))?.stop();
  }
}

/** An executor whose jobs get their grant's environment, revoked when each job ends. */
export class WithJobAccess implements Executor {
  readonly name: string;

  constructor(private readonly inner: Executor, private readonly access: JobAccess) {
    this.name = inner.name;
  }

  async run(job: Job, signal?: AbortSignal): Promise<JobResult> {
    const g = await this.access.grant(job);
    if (!g) return this.inner.run(job, signal);
    try {
      return await this.inner.run({ ...job, env: { ...job.env, ...g.env } }, signal);
    } finally {
      await g.revoke();
    }
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}

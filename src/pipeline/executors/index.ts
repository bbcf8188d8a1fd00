// Which executor runs a stage's datums. A run makes one instance of each kind it
// needs, on first use, and closes them when it ends. Every executor is its own file
// in this directory behind the Executor seam (../executor.ts); choosing one for a
// stage happens here and nowhere else: `--executor` when given, else the stage's
// `executor:` key, else local; a local stage runs in the sandbox when
// `--isolation sandbox` or its `isolation: sandbox` says so.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ExecutorKind } from '../config-cluster.js';
import type { IdentityConfig } from '../config-sandbox.js';
import type { Executor } from '../executor.js';
import { WithJobAccess, type JobAccess } from '../job-access.js';
import type { StageConfig } from '../types.js';
import { KubernetesExecutor, type CredentialsFn } from './kubernetes.js';
import type { Durations } from './batch-size.js';
import { LocalExecutor } from './local.js';
import type { ServedData } from './served-data.js';
import { SandboxExecutor } from './sandbox.js';
import { SlurmExecutor } from './slurm.js';

export interface ExecutorsOptions {
  /** Project root (an experiment's copy for queued experiments). */
  root: string;
  /** Scratch space on the repository's filesystem (.dv/tmp). */
  tmpDir: string;
  /** `dv run --executor`: every stage runs there. */
  kind?: ExecutorKind;
  /** `dv run --isolation`: overrides every local stage's `isolation`. */
  isolation?: 'local' | 'sandbox';
  /** dv.yaml `identities:` (sandboxed stages with `identity:` run as them). */
  identities?: Map<string, IdentityConfig>;
  /** Temporary S3 keys for stages that ask for them (s3: true, identity). */
  access?: JobAccess;
  /** Credentials for cluster jobs (a temporary job key), delivered to the pods in a Secret. */
  credentials?: CredentialsFn;
  /** The data path of `data: s3` cluster stages (jobs reach dv serve with a job key). */
  served?: ServedData;
  /** Recorded datum durations, for `batch: {duration}`. */
  durations?: Durations;
}

/** The kind of engine a stage runs on. */
export function executorKind(stage: StageConfig, override?: ExecutorKind): ExecutorKind {
  return override ?? stage.cluster?.executor ?? 'local';
}

export class Executors {
  private readonly made = new Map<string, Executor>();

  /** `fixed`: one executor for every stage, owned by the caller (tests, embedders). */
  constructor(private readonly opts: ExecutorsOptions, private readonly fixed?: Executor) {}

  /** The executor for this stage's datums. */
  for(stage: StageConfig): Executor {
    if (this.fixed) return this.fixed;
    const engine = executorKind(stage, this.opts.kind);
    const kind = engine !== 'local' ? engine : this.opts.isolation ?? stage.isolation?.mode ?? 'local';
    let ex = this.made.get(kind);
    if (!ex) {
      ex = this.make(kind);
      this.made.set(kind, ex);
    }
    return ex;
  }

  private make(kind: string): Executor {
    const { root, tmpDir } = this.opts;
    const { served, durations } = this.opts;
    if (kind === 'slurm') return new SlurmExecutor({ root, dvDir: dirname(tmpDir), served, durations });
    if (kind === 'kubernetes') return new KubernetesExecutor({ root, dvDir: dirname(tmpDir), credentials: this.opts.credentials, served, durations });
    const ex = kind === 'sandbox' ? new SandboxExecutor({ root, tmpDir, identities: this.opts.identities }) : new LocalExecutor({ root, tmpDir });
    return this.opts.access ? new WithJobAccess(ex, this.opts.access) : ex;
  }

  /** Closes the executors this run made (not a fixed one). */
  async close(): Promise<void> {
    await Promise.all([...this.made.values()].map((e) => e.close?.()));
    this.made.clear();
    // The upload branch stays while a journalled job (of a killed run) may still report there.
    const cluster = join(dirname(this.opts.tmpDir), 'cluster');
    await this.opts.served?.close(['slurm.jsonl', 'kubernetes.jsonl'].some((f) => existsSync(join(cluster, f))));
    await this.opts.access?.close();
  }
}

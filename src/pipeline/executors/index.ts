// Which executor runs a stage's datums. A run makes one instance of each kind it
// needs, on first use, and closes them when it ends. Every executor is its own file
// in this directory behind the Executor seam (../executor.ts); choosing one for a
// stage happens here and nowhere else.
import type { Executor } from '../executor.js';
import type { IdentityConfig } from '../config-sandbox.js';
import { WithJobAccess, type JobAccess } from '../job-access.js';
import type { StageConfig } from '../types.js';
import { LocalExecutor } from './local.js';
import { SandboxExecutor } from './sandbox.js';

export interface ExecutorsOptions {
  /** Project root (an experiment's copy for queued experiments). */
  root: string;
  /** Scratch space on the repository's filesystem (.dv/tmp). */
  tmpDir: string;
  /** `dv run --isolation`: overrides every stage's `isolation`. */
  isolation?: 'local' | 'sandbox';
  /** dv.yaml `identities:` (sandboxed stages with `identity:` run as them). */
  identities?: Map<string, IdentityConfig>;
  /** Temporary S3 keys for stages that ask for them (s3: true, identity). */
  access?: JobAccess;
}

export class Executors {
  private readonly made = new Map<string, Executor>();

  /** `fixed`: one executor for every stage, owned by the caller (tests, embedders). */
  constructor(private readonly opts: ExecutorsOptions, private readonly fixed?: Executor) {}

  /** The executor for this stage's datums. */
  for(stage: StageConfig): Executor {
    if (this.fixed) return this.fixed;
    const kind = this.opts.isolation ?? stage.isolation?.mode ?? 'local';
    let ex = this.made.get(kind);
    if (!ex) {
      ex = this.make(kind);
      this.made.set(kind, ex);
    }
    return ex;
  }

  private make(kind: string): Executor {
    const base = { root: this.opts.root, tmpDir: this.opts.tmpDir };
    const ex = kind === 'sandbox' ? new SandboxExecutor({ ...base, identities: this.opts.identities }) : new LocalExecutor(base);
    return this.opts.access ? new WithJobAccess(ex, this.opts.access) : ex;
  }

  /** Closes the executors this run made (not a fixed one). */
  async close(): Promise<void> {
    await Promise.all([...this.made.values()].map((e) => e.close?.()));
    this.made.clear();
    await this.opts.access?.close();
  }
}

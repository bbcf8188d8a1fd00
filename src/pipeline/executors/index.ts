// Which executor runs a stage's datums. A run makes one instance of each kind it
// needs, on first use, and closes them when it ends. Every executor is its own file
// in this directory behind the Executor seam (../executor.ts); choosing one for a
// stage happens here and nowhere else.
import type { Executor } from '../executor.js';
import type { StageConfig } from '../types.js';
import { LocalExecutor } from './local.js';

export interface ExecutorsOptions {
  /** Project root (an experiment's copy for queued experiments). */
  root: string;
  /** Scratch space on the repository's filesystem (.dv/tmp). */
  tmpDir: string;
}

export class Executors {
  private readonly made = new Map<string, Executor>();

  /** `fixed`: one executor for every stage, owned by the caller (tests, embedders). */
  constructor(private readonly opts: ExecutorsOptions, private readonly fixed?: Executor) {}

  /** The executor for this stage's datums. */
  for(_stage: StageConfig): Executor {
    if (this.fixed) return this.fixed;
    const kind = 'local';
    let ex = this.made.get(kind);
    if (!ex) {
      ex = new LocalExecutor({ root: this.opts.root, tmpDir: this.opts.tmpDir });
      this.made.set(kind, ex);
    }
    return ex;
  }

  /** Closes the executors this run made (not a fixed one). */
  async close(): Promise<void> {
    await Promise.all([...this.made.values()].map((e) => e.close?.()));
    this.made.clear();
  }
}

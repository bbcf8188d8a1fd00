// What `dv run --dry-run` would hand to a cluster: for each stage that runs on Slurm,
// the sbatch script of every batch of the datums the plan would run (run-cache hits
// excluded), exactly as the Slurm executor would submit it, for review before a run.
import type { ExecutorKind } from './config-cluster.js';
import type { Job } from './executor.js';
import { executorKind } from './executors/index.js';
import { SlurmExecutor } from './executors/slurm.js';
import type { Params, StageConfig, StagePlan } from './types.js';

export interface Submission {
  stage: string;
  executor: ExecutorKind;
  /** Datum ids in the batch, in task order. */
  datums: string[];
  /** The sbatch script. */
  text: string;
}

export function previewSubmissions(root: string, dvDir: string, stages: StageConfig[], plans: StagePlan[], params: Params,
  override?: ExecutorKind): Submission[] {
  const out: Submission[] = [];
  const slurm = new SlurmExecutor({ root, dvDir });
  for (const plan of plans) {
    const stage = stages.find((s) => s.name === plan.stage);
    if (!stage || executorKind(stage, override) !== 'slurm') continue;
    const jobs: Job[] = [];
    for (const d of plan.datums) {
      if (d.action === 'run' && !d.cached) jobs.push({ runId: 'dry-run', stage, datum: d.datum, params, attempt: 1, cacheKey: d.cacheKey });
    }
    const size = stage.cluster?.batch ?? 1;
    for (let i = 0; i < jobs.length; i += size) {
      const batch = jobs.slice(i, i + size);
      out.push({ stage: stage.name, executor: 'slurm', datums: batch.map((j) => j.datum.id), text: slurm.script(batch, `dry-run-${out.length + 1}`).text });
    }
  }
  return out;
}


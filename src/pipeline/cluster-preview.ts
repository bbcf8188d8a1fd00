// What `dv run --dry-run` would hand to a cluster: for each stage that runs on Slurm,
// the sbatch script of every batch of the datums the plan would run (run-cache hits
// excluded) as the Slurm executor would submit it (one array job, a task per batch); for Kubernetes, the Job
// manifest as YAML.
import type { ExecutorKind } from './config-cluster.js';
import type { Job } from './executor.js';
import { executorKind } from './executors/index.js';
import YAML from 'yaml';
import { KubernetesExecutor } from './executors/kubernetes.js';
import { MAX_ARRAY, SlurmExecutor } from './executors/slurm.js';
import type { Params, StageConfig, StagePlan } from './types.js';

export interface Submission {
  stage: string;
  executor: ExecutorKind;
  /** Datum ids submitted together (Slurm: every batch of the array job), in order. */
  datums: string[];
  /** The sbatch script, or the YAML manifests. */
  text: string;
}

export function previewSubmissions(root: string, dvDir: string, stages: StageConfig[], plans: StagePlan[], params: Params,
  override?: ExecutorKind): Submission[] {
  const out: Submission[] = [];
  const slurm = new SlurmExecutor({ root, dvDir });
  const k8s = new KubernetesExecutor({ root, dvDir });
  for (const plan of plans) {
    const stage = stages.find((s) => s.name === plan.stage);
    const kind = stage ? executorKind(stage, override) : 'local';
    if (!stage || kind === 'local') continue;
    const jobs: Job[] = [];
    for (const d of plan.datums) {
      if (d.action === 'run' && !d.cached) jobs.push({ runId: 'dry-run', stage, datum: d.datum, params, attempt: 1, cacheKey: d.cacheKey });
    }
    // Slurm: one array job of up to MAX_ARRAY batches; Kubernetes: one Job per batch.
    const size = (stage.cluster?.batch ?? 1) * (kind === 'slurm' ? MAX_ARRAY : 1);
    for (let i = 0; i < jobs.length; i += size) {
      const batch = jobs.slice(i, i + size);
      const id = `dry-run-${out.length + 1}`;
      let text: string;
      if (kind === 'slurm') text = slurm.script(batch, id).text;
      else {
        // No credentials are configured for cluster jobs yet, so no Secret goes with the Job.
        text = YAML.stringify(k8s.manifests(batch, stage.cluster?.kubernetes.namespace ?? 'default', null, id).job);
      }
      out.push({ stage: stage.name, executor: kind, datums: batch.map((j) => j.datum.id), text });
    }
  }
  return out;
}


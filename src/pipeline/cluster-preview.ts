// What `dv run --dry-run` would hand to a cluster: for each stage that runs on Slurm,
// the sbatch script of every batch of the datums the plan would run (run-cache hits
// excluded) as the Slurm executor would submit it (one array job, a task per batch); for Kubernetes, the Job
// manifest as YAML (and, with data: s3, its Secret with the key's values left out).
import type { ExecutorKind } from './config-cluster.js';
import type { Job } from './executor.js';
import { executorKind } from './executors/index.js';
import YAML from 'yaml';
import { dataMode } from './config-cluster.js';
import { batchSizes, type Durations } from './executors/batch-size.js';
import { jobIoSpecs, UPLOAD_BRANCH } from './executors/served-data.js';
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
  override?: ExecutorKind, durations?: Durations): Submission[] {
  const out: Submission[] = [];
  const slurm = new SlurmExecutor({ root, dvDir, durations });
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
    const sizes = batchSizes(stage, jobs, durations);
    const groups: number[] = [];
    for (let k = 0; k < sizes.length; k += kind === 'slurm' ? MAX_ARRAY : 1) {
      groups.push(sizes.slice(k, k + (kind === 'slurm' ? MAX_ARRAY : 1)).reduce((a, b) => a + b, 0));
    }
    const s3 = dataMode(stage.cluster, kind) === 's3';
    let i = 0;
    for (const n of groups) {
      const batch = jobs.slice(i, (i += n));
      const id = `dry-run-${out.length + 1}`;
      // data: s3: the bucket and the inputs commit are filled in at submission; the key goes in the environment or the Secret.
      const specs = s3 ? jobIoSpecs(batch, 's3://<bucket>/<inputs-commit>', `s3://<bucket>/${UPLOAD_BRANCH}/${id}`, `/tmp/dv-${id}`) : undefined;
      let text: string;
      if (kind === 'slurm') text = slurm.script(batch, id, specs).text;
      else {
        const m = k8s.manifests(batch, stage.cluster?.kubernetes.namespace ?? 'default', s3 ? { AWS_ACCESS_KEY_ID: '<job key>' } : null, id, specs);
        text = YAML.stringify(m.job) + (s3 ? `---\n${YAML.stringify(m.secret('<uid of the Job>'))}` : '');
      }
      out.push({ stage: stage.name, executor: kind, datums: batch.map((j) => j.datum.id), text });
    }
  }
  return out;
}


// The Kubernetes objects of one batch: an Indexed Job (completionMode Indexed, one
// completion per datum, pod i runs datum i via $JOB_COMPLETION_INDEX) and, when the
// job gets credentials, a Secret with them that the pods read through envFrom. The
// Secret is owned by the Job (ownerReferences, set once the Job has its uid), so
// deleting the Job, or its TTL running out, removes pods and Secret together.
// Retries are dv's (per `retries`), so the Job retries nothing itself
// (backoffLimitPerIndex 0) and one failed index does not stop the others. With
// `data: s3` the pod mounts nothing: its command carries job-io (served-data.ts).
import type { StageConfig } from '../types.js';
import { stageResources } from './slurm-script.js';
import type { JobIoSpec } from './job-io.js';
import { servedCases } from './served-data.js';
import { podBody, shQuote, type TaskSpec } from './task-spec.js';

export const MANAGED_BY = 'dv';
export const TTL_SECONDS = 600;
export type Manifest = Record<string, unknown> & { apiVersion: string; kind: string; metadata: Record<string, unknown> };

export interface BatchManifestOptions {
  stage: StageConfig;
  /** Job (and Secret) name: dv-<stage>-<id>, a DNS label. */
  name: string;
  namespace: string;
  /** The batch directory on the shared volume. */
  dir: string;
  /** Project root: where the volume is mounted in the pods. */
  root: string;
  tasks: TaskSpec[];
  /** Credentials for the pods (environment variables), delivered in the Secret. */
  secretEnv?: Record<string, string> | null;
  /** data: s3: each datum's job-io spec (no volume; data through dv serve). */
  specs?: JobIoSpec[];
}

/** The pods' image when the stage names none: job-io needs node for data: s3. */
export const defaultImage = (served: boolean): string => (served ? 'node:20-bookworm-slim' : 'debian:bookworm-slim');

/** A DNS-1123 label from a stage name and batch id (63 characters at most). */
export function jobName(stage: string, id: string): string {
  const s = stage.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'stage';
  return `dv-${s}-${id}`.replace(/-+/g, '-');
}

function quantity(m: number | string): string {
  if (typeof m === 'number') return String(m);
  return m.trim().replace(/^(\d+(?:\.\d+)?)\s*([KMGT])i?B?$/i, (_x, n: string, u: string) => `${n}${u.toUpperCase()}i`);
}

export function jobManifest(o: BatchManifestOptions): Manifest {
  const k = o.stage.cluster?.kubernetes;
  const res = stageResources(o.stage);
  const limits: Record<string, string> = {};
  if (res.cpus !== undefined) limits.cpu = String(res.cpus);
  if (res.memory !== undefined) limits.memory = quantity(res.memory);
  const labels = { 'app.kubernetes.io/managed-by': MANAGED_BY, 'dv.stage': o.stage.name.toLowerCase().replace(/[^a-z0-9._-]/g, '-').slice(0, 63) };
  const script = (o.specs
    ? [...servedCases(o.specs, shQuote), '"${DV_NODE:-node}" "$io" run "$(spec_of "$JOB_COMPLETION_INDEX")"']
    : podBody(o.dir, '$JOB_COMPLETION_INDEX', o.tasks)).join('\n');
  const mount = !o.specs && k?.volumeClaim;
  const container: Record<string, unknown> = {
    name: 'datum', image: o.stage.cluster?.image ?? defaultImage(!!o.specs), command: ['/bin/sh', '-c', script],
    ...(Object.keys(limits).length ? { resources: { limits, requests: limits } } : {}),
    ...(o.secretEnv ? { envFrom: [{ secretRef: { name: o.name } }] } : {}),
    ...(mount ? { volumeMounts: [{ name: 'project', mountPath: o.root }] } : {}),
  };
  const podSpec: Record<string, unknown> = {
    restartPolicy: 'Never', containers: [container],
    ...(k?.serviceAccount ? { serviceAccountName: k.serviceAccount } : {}),
    ...(k && Object.keys(k.nodeSelector).length ? { nodeSelector: k.nodeSelector } : {}),
    ...(k?.tolerations.length ? { tolerations: k.tolerations } : {}),
    ...(mount ? { volumes: [{ name: 'project', persistentVolumeClaim: { claimName: k.volumeClaim! } }] } : {}),
  };
  return {
    apiVersion: 'batch/v1', kind: 'Job',
    metadata: { name: o.name, namespace: o.namespace, labels, annotations: { 'dv.stage': o.stage.name } },
    spec: {
      completionMode: 'Indexed', completions: o.tasks.length, parallelism: o.tasks.length,
      backoffLimitPerIndex: 0, maxFailedIndexes: o.tasks.length, ttlSecondsAfterFinished: TTL_SECONDS,
      ...(res.timeoutSec ? { activeDeadlineSeconds: Math.ceil(res.timeoutSec) } : {}),
      template: { metadata: { labels }, spec: podSpec },
    },
  };
}

/** The Secret of a batch's credentials, owned by its Job (uid from the created Job). */
export function secretManifest(o: BatchManifestOptions, jobUid: string): Manifest {
  return {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
    metadata: {
      name: o.name, namespace: o.namespace, labels: { 'app.kubernetes.io/managed-by': MANAGED_BY },
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: o.name, uid: jobUid, controller: true, blockOwnerDeletion: true }],
    },
    stringData: o.secretEnv ?? {},
  };
}

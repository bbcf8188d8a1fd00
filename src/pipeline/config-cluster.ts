// The stage keys that say where a stage's datums run: `executor` (local, slurm,
// kubernetes), `batch` (datums per submitted engine job), `image` (container image
// for kubernetes), `data` (how jobs reach the data: a `shared` filesystem, or `s3`:
// through dv serve with a job key; Kubernetes without a volumeClaim defaults to s3), and the
// engine-specific maps `slurm:` and `kubernetes:`. They never change what a datum
// computes, so they are kept out of the cache key: moving a stage to a cluster does
// not re-run it. Slurm's partition lives under `slurm:` because a stage's
// `partition` already names its datum partitioning.
import { Checker, checkKeys, isMap, stringList, typeName } from './config-check.js';

export type ExecutorKind = 'local' | 'slurm' | 'kubernetes';
export type DataMode = 'shared' | 's3';

/** How a stage's cluster jobs reach the data: its `data:`, else s3 for Kubernetes without a volumeClaim, else shared. */
export function dataMode(cluster: ClusterConfig | undefined | null, kind: ExecutorKind): DataMode {
  if (cluster?.data) return cluster.data;
  return kind === 'kubernetes' && !cluster?.kubernetes.volumeClaim ? 's3' : 'shared';
}

/** `30s`, `5m`, `1h`, `250ms` or a number of seconds, to milliseconds; null when unreadable. */
export function parseDuration(v: unknown): number | null {
  if (typeof v === 'number') return v > 0 ? v * 1000 : null;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(v.trim()) : null;
  if (!m) return null;
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return ms > 0 ? ms : null;
}
export const EXECUTOR_KINDS: ExecutorKind[] = ['local', 'slurm', 'kubernetes'];

export interface SlurmOptions {
  partition: string | null;
  account: string | null;
  /** Generic resources, e.g. `gpu:1`. */
  gres: string | null;
  /** Extra sbatch options, passed as given (e.g. `--qos=low`). */
  options: string[];
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

export interface KubernetesOptions {
  namespace: string | null;
  serviceAccount: string | null;
  nodeSelector: Record<string, string>;
  tolerations: Toleration[];
  /** PersistentVolumeClaim holding the project, mounted in each pod at the project's path (data: shared). */
  volumeClaim: string | null;
}

export interface ClusterConfig {
  executor: ExecutorKind;
  /** Datums per engine job (one sbatch array or one Indexed Job). */
  batch: number;
  /** Target run time of one batch (ms), sized from the datums' recorded durations; null: `batch` datums. */
  batchDurationMs: number | null;
  image: string | null;
  /** As written; null: the engine's default (dataMode). */
  data: DataMode | null;
  slurm: SlurmOptions;
  kubernetes: KubernetesOptions;
}

export const CLUSTER_KEYS = ['executor', 'batch', 'image', 'data', 'slurm', 'kubernetes'];
const MAX_BATCH = 10_000;

function optString(c: Checker, place: string, v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || v === '') c.fail(place, `expected a non-empty string, got ${typeName(v)}`);
  return v;
}

function parseSlurm(c: Checker, place: string, v: unknown): SlurmOptions {
  const m = v ?? {};
  if (!isMap(m)) c.fail(place, `expected a map (partition, account, gres, options), got ${typeName(v)}`);
  checkKeys(c, place, m, ['partition', 'account', 'gres', 'options']);
  const options = stringList(c, `${place}.options`, m.options);
  options.forEach((o, i) => { if (!o.startsWith('--')) c.fail(`${place}.options[${i}]`, 'expected a long sbatch option such as --qos=low'); });
  return {
    partition: optString(c, `${place}.partition`, m.partition), account: optString(c, `${place}.account`, m.account),
    gres: optString(c, `${place}.gres`, m.gres), options,
  };
}

function parseKubernetes(c: Checker, place: string, v: unknown): KubernetesOptions {
  const m = v ?? {};
  if (!isMap(m)) c.fail(place, `expected a map (namespace, serviceAccount, nodeSelector, tolerations), got ${typeName(v)}`);
  checkKeys(c, place, m, ['namespace', 'serviceAccount', 'nodeSelector', 'tolerations', 'volumeClaim']);
  const nodeSelector: Record<string, string> = {};
  if (m.nodeSelector !== undefined) {
    if (!isMap(m.nodeSelector)) c.fail(`${place}.nodeSelector`, `expected a map of label: value, got ${typeName(m.nodeSelector)}`);
    for (const [k, val] of Object.entries(m.nodeSelector)) nodeSelector[k] = String(val);
  }
  const tolerations: Toleration[] = [];
  const list = m.tolerations ?? [];
  if (!Array.isArray(list)) c.fail(`${place}.tolerations`, `expected a list, got ${typeName(list)}`);
  list.forEach((t, i) => {
    if (!isMap(t)) c.fail(`${place}.tolerations[${i}]`, `expected a map, got ${typeName(t)}`);
    checkKeys(c, `${place}.tolerations[${i}]`, t, ['key', 'operator', 'value', 'effect', 'tolerationSeconds']);
    tolerations.push(t as Toleration);
  });
  return {
    namespace: optString(c, `${place}.namespace`, m.namespace), serviceAccount: optString(c, `${place}.serviceAccount`, m.serviceAccount),
    nodeSelector, tolerations, volumeClaim: optString(c, `${place}.volumeClaim`, m.volumeClaim),
  };
}

/** The cluster keys of one stage (defaults: local, batch 1, shared data). */
export function parseCluster(c: Checker, place: string, raw: Record<string, unknown>): ClusterConfig {
  const executor = raw.executor ?? 'local';
  if (typeof executor !== 'string' || !EXECUTOR_KINDS.includes(executor as ExecutorKind)) {
    c.fail(`${place}.executor`, `expected one of ${EXECUTOR_KINDS.join(', ')}, got ${typeName(executor)}`);
  }
  let batch = raw.batch ?? 1;
  let batchDurationMs: number | null = null;
  if (isMap(batch)) {
    checkKeys(c, `${place}.batch`, batch, ['duration', 'default']);
    batchDurationMs = parseDuration(batch.duration);
    if (batchDurationMs === null) c.fail(`${place}.batch.duration`, `expected a duration such as 30s, 5m or 250ms, got ${typeName(batch.duration)}`);
    batch = batch.default ?? 10;
  }
  if (typeof batch !== 'number' || !Number.isInteger(batch) || batch < 1) c.fail(`${place}.batch`, 'expected a positive integer or {duration: 30s, default: N}');
  if (batch > MAX_BATCH) c.fail(`${place}.batch`, `at most ${MAX_BATCH}`);
  const data = raw.data ?? null;
  if (data !== null && data !== 'shared' && data !== 's3') c.fail(`${place}.data`, `expected shared (jobs see the project directory) or s3 (jobs go through dv serve), got ${typeName(data)}`);
  return {
    executor: executor as ExecutorKind, batch, batchDurationMs, image: optString(c, `${place}.image`, raw.image), data: data as DataMode | null,
    slurm: parseSlurm(c, `${place}.slurm`, raw.slurm), kubernetes: parseKubernetes(c, `${place}.kubernetes`, raw.kubernetes),
  };
}

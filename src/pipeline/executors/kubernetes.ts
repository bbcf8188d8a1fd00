// The Kubernetes executor: each batch of a stage's jobs (`batch: N`) is one Indexed
// Job (kubernetes-manifests.ts) created through @kubernetes/client-node, with the
// kubeconfig from the standard places (KUBECONFIG, ~/.kube/config, in-cluster service
// account). Pods either run the datums' commands on the project's shared volume
// (`data: shared`, `kubernetes.volumeClaim`) and write to their scratch directories
// there, or (`data: s3`, the default without a volumeClaim) move their data through
// dv serve with a job key in the batch's Secret (served-data.ts).
// One list-then-watch of dv's pods per namespace reports each index's end; its log
// comes from the pod. A pod that failed or vanished is a failed attempt (retried per
// `retries` by the scheduler); cancelling deletes the Job with its pods and Secret.
// Batches are journalled like Slurm's, so a restarted run re-attaches to its Jobs.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { BatchV1Api, CoreV1Api, KubeConfig, V1Pod } from '@kubernetes/client-node';
import type { Executor, Job, JobResult } from '../executor.js';
import { Batcher } from './batcher.js';
import { ClusterJournal } from './cluster-journal.js';
import { collectScratch } from './collect.js';
import { armTask, logTail, settleTask, unreported } from './cluster-task.js';
import { jobManifest, jobName, MANAGED_BY, secretManifest, type BatchManifestOptions, type Manifest } from './kubernetes-manifests.js';
import { taskSpec } from './task-spec.js';
import { dataMode } from '../config-cluster.js';
import { batchSizes, type Durations } from './batch-size.js';
import type { JobIoSpec } from './job-io.js';
import type { ServedData } from './served-data.js';

const isServed = (job: Job): boolean => dataMode(job.stage.cluster, 'kubernetes') === 's3';

/** Credentials for a batch's pods (environment variables), e.g. a minted job key; null for none. */
export type CredentialsFn = (scope: { runId: string; stage: string; datums: string[] }) => Promise<Record<string, string> | null>;

export interface KubernetesExecutorOptions {
  root: string;
  dvDir: string;
  credentials?: CredentialsFn;
  lingerMs?: number;
  maxLogBytes?: number;
  /** Moves the data of `data: s3` stages through dv serve. */
  served?: ServedData;
  /** Recorded datum durations, for `batch: {duration}`. */
  durations?: Durations;
}

interface Task {
  job: Job;
  resolve: (r: JobResult) => void;
  state: 'queued' | 'submitting' | 'waiting' | 'done';
  namespace: string;
  dir: string;
  index: number;
  jobName: string;
  /** data: s3: the batch's id on the upload branch. */
  served: string | null;
  submittedAt: Date;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Client {
  kc: KubeConfig;
  batch: BatchV1Api;
  core: CoreV1Api;
  watch: InstanceType<typeof import('@kubernetes/client-node').Watch>;
}

const INDEX = 'batch.kubernetes.io/job-completion-index';
const WATCH_OPEN_MS = 30_000;

/** `p`, or a rejection with `what` after `ms` (a server that never answers must not hang the run). */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_r, reject) => { timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export class KubernetesExecutor implements Executor {
  readonly name = 'kubernetes';
  private readonly batches: string;
  private readonly journal: ClusterJournal;
  private readonly batcher: Batcher<Task>;
  /** `<namespace>/<job>/<index>` -> task */
  private readonly waiting = new Map<string, Task>();
  private readonly watches = new Map<string, AbortController | null>();
  private readonly pending: Promise<unknown>[] = [];
  private readonly touched = new Set<string>();
  private client: Promise<Client> | null = null;
  private readonly jobsMade: { namespace: string; name: string; dir: string }[] = [];
  private readonly deleting = new Set<string>();
  reattached = 0;

  constructor(private readonly opts: KubernetesExecutorOptions) {
    this.batches = join(opts.dvDir, 'cluster', 'kubernetes');
    this.journal = new ClusterJournal(join(opts.dvDir, 'cluster', 'kubernetes.jsonl'));
    this.batcher = new Batcher((_s, tasks) => {
      let i = 0;
      for (const n of batchSizes(tasks[0]!.job.stage, tasks.map((t) => t.job), opts.durations)) this.pending.push(this.submit(tasks.slice(i, (i += n))));
    }, opts.lingerMs);
  }

  inFlight(): number {
    return Number.MAX_SAFE_INTEGER;
  }

  private connect(): Promise<Client> {
    this.client ??= import('@kubernetes/client-node').then((k) => {
      const kc = new k.KubeConfig();
      kc.loadFromDefault();
      return { kc, batch: kc.makeApiClient(k.BatchV1Api), core: kc.makeApiClient(k.CoreV1Api), watch: new k.Watch(kc) };
    });
    return this.client;
  }

  private async namespaceOf(job: Job): Promise<string> {
    const ns = job.stage.cluster?.kubernetes.namespace;
    if (ns) return ns;
    const { kc } = await this.connect();
    return kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  }

  run(job: Job, signal?: AbortSignal): Promise<JobResult> {
    return new Promise((resolve) => {
      const task: Task = { job, resolve, state: 'queued', namespace: '', dir: '', index: -1, jobName: '', served: null, submittedAt: new Date(), signal };
      const prior = armTask(task, this.journal, () => this.cancel(task), () => this.failure(task, 'cancelled', 'cancelled'));
      if (prior === false) return;
      if (prior) {
        this.reattached++;
        const [namespace, name] = prior.batch.job.split('/') as [string, string];
        Object.assign(task, { namespace, jobName: name, dir: prior.batch.dir, index: prior.task.index, state: 'waiting', served: isServed(job) ? basename(prior.batch.dir) : null });
        this.touched.add(task.dir);
        this.waiting.set(`${namespace}/${name}/${task.index}`, task);
        this.pending.push(this.ensureWatch(namespace));
        return;
      }
      this.batcher.add(job.stage.name, job.stage.cluster?.batchDurationMs ? Number.MAX_SAFE_INTEGER : job.stage.cluster?.batch ?? 1, task);
    });
  }

  /** The manifests of a batch of these jobs (the Secret with placeholder values when no credentials are given). */
  manifests(jobs: Job[], namespace: string, secretEnv: Record<string, string> | null, id = randomBytes(5).toString('hex'), specs?: JobIoSpec[]): {
    options: BatchManifestOptions; job: Manifest; secret: (uid: string) => Manifest;
  } {
    const stage = jobs[0]!.stage;
    const dir = join(this.batches, id);
    const options: BatchManifestOptions = {
      stage, name: jobName(stage.name, id), namespace, dir, root: this.opts.root, secretEnv, specs,
      tasks: jobs.map((j, i) => taskSpec(j, this.opts.root, join(dir, String(i)))),
    };
    return { options, job: jobManifest(options), secret: (uid) => secretManifest(options, uid) };
  }

  private async submit(tasks: Task[]): Promise<void> {
    const first = tasks[0]!.job;
    try {
      const namespace = await this.namespaceOf(first);
      const id = randomBytes(5).toString('hex');
      let creds = await this.opts.credentials?.({ runId: first.runId, stage: first.stage.name, datums: tasks.map((t) => t.job.datum.id) }) ?? null;
      let specs: JobIoSpec[] | undefined;
      if (isServed(first)) {
        if (!this.opts.served) throw new Error('data: s3 needs a dv serve endpoint for the jobs, and this run has none');
        const s = await this.opts.served.prepare(tasks.map((t) => t.job), id, `/tmp/dv-${id}`);
        creds = { ...creds, ...s.env };
        specs = s.specs;
      }
      const m = this.manifests(tasks.map((t) => t.job), namespace, creds, id, specs);
      tasks.forEach((t, i) => Object.assign(t, { state: t.state === 'done' ? 'done' : 'submitting', namespace, dir: m.options.dir, index: i, jobName: m.options.name, served: specs ? id : null }));
      mkdirSync(m.options.dir, { recursive: true });
      this.touched.add(m.options.dir);
      const { batch, core } = await this.connect();
      await this.ensureWatch(namespace);
      const created = await batch.createNamespacedJob({ namespace, body: m.job as never });
      this.jobsMade.push({ namespace, name: m.options.name, dir: m.options.dir });
      this.journal.add({
        job: `${namespace}/${m.options.name}`, dir: m.options.dir, stage: first.stage.name,
        tasks: tasks.filter((t) => t.job.cacheKey).map((t) => ({ key: t.job.cacheKey!, index: t.index, datum: t.job.datum.id })),
      });
      if (creds) await core.createNamespacedSecret({ namespace, body: m.secret(created.metadata!.uid!) as never });
      let cancelled = false;
      for (const t of tasks) {
        if (t.state === 'done') cancelled = true;
        else {
          t.state = 'waiting';
          this.waiting.set(`${namespace}/${t.jobName}/${t.index}`, t);
        }
      }
      if (cancelled && tasks.every((t) => t.state === 'done')) await this.deleteJob(namespace, m.options.name);
    } catch (e) {
      const msg = `kubernetes: ${apiError(e)}`;
      for (const t of tasks) this.settle(t, this.failure(t, 'failed', msg));
    }
  }

  /** List dv's pods of the namespace, then watch them from that version on; again whenever the watch ends. */
  private async ensureWatch(namespace: string): Promise<void> {
    if (this.watches.has(namespace)) return;
    this.watches.set(namespace, null);
    const { core, watch } = await this.connect();
    const labelSelector = `app.kubernetes.io/managed-by=${MANAGED_BY}`;
    try {
      const list = await core.listNamespacedPod({ namespace, labelSelector });
      for (const p of list.items) this.onPod(namespace, 'ADDED', p);
      const ac = await within(WATCH_OPEN_MS, 'the pod watch did not open', watch.watch(`/api/v1/namespaces/${namespace}/pods`, { labelSelector, resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
        (type, obj: V1Pod) => this.onPod(namespace, type, obj),
        () => {
          if (this.watches.get(namespace) === undefined) return; // closed
          this.watches.delete(namespace);
          if ([...this.waiting.values()].some((t) => t.namespace === namespace)) setTimeout(() => { this.pending.push(this.ensureWatch(namespace)); }, 500);
        }));
      if (this.watches.has(namespace)) this.watches.set(namespace, ac);
      else ac.abort();
    } catch (e) {
      this.watches.delete(namespace);
      for (const t of [...this.waiting.values()].filter((x) => x.namespace === namespace)) this.fail(t, `kubernetes: watching pods: ${apiError(e)}`);
    }
  }

  private onPod(namespace: string, type: string, pod: V1Pod): void {
    const job = pod.metadata?.labels?.['job-name'] ?? pod.metadata?.labels?.['batch.kubernetes.io/job-name'];
    const index = pod.metadata?.annotations?.[INDEX] ?? pod.metadata?.labels?.[INDEX];
    const key = `${namespace}/${job}/${index}`;
    const t = this.waiting.get(key);
    if (!t || !job || index === undefined) return;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      this.waiting.delete(key);
      this.pending.push(this.complete(t, pod));
    } else if (type === 'DELETED') {
      this.fail(t, `pod ${pod.metadata?.name} was deleted before it finished (node failure, preemption or eviction)`);
    }
  }

  private fail(t: Task, error: string): void {
    this.waiting.delete(`${t.namespace}/${t.jobName}/${t.index}`);
    this.settle(t, this.failure(t, 'failed', error));
  }

  private async complete(t: Task, pod: V1Pod): Promise<void> {
    const { core } = await this.connect();
    const term = pod.status?.containerStatuses?.[0]?.state?.terminated;
    const code = term?.exitCode ?? (pod.status?.phase === 'Succeeded' ? 0 : null);
    const log = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: t.namespace }).catch(() => '');
    const out = logTail(Buffer.from(String(log)), this.opts.maxLogBytes ?? 1 << 20);
    const start = Number((await readFile(join(t.dir, `${t.index}.start`)).catch(() => Buffer.alloc(0))).toString().trim())
      || Date.parse(pod.status?.startTime as unknown as string) || t.submittedAt.getTime();
    const end = (await stat(join(t.dir, `${t.index}.rc`)).catch(() => null))?.mtimeMs ?? Date.now();
    const base = {
      exitCode: code, signal: null, stdout: out.data, stderr: Buffer.alloc(0), truncated: out.truncated,
      startedAt: new Date(start).toISOString(), durationMs: Math.max(0, Math.round(end - start)), engineJob: `${t.jobName}/${t.index}`,
      dispose: () => this.dispose(t),
    };
    if (t.served) {
      const r = await this.opts.served!.result(t.served, t.index, join(t.dir, String(t.index)));
      if (r.status) Object.assign(base, { startedAt: new Date(r.status.start).toISOString(), durationMs: Math.max(0, r.status.end - r.status.start) });
      if (code === 0 && r.error) return this.settle(t, { ...base, status: 'failed', error: r.error, outputs: [] });
      if (code === 0) return this.settle(t, { ...base, status: 'succeeded', error: null, outputs: r.outputs });
    }
    if (code !== 0) {
      const why = term?.reason && term.reason !== 'Error' ? ` (${term.reason})` : pod.status?.reason ? ` (${pod.status.reason})` : '';
      return this.settle(t, { ...base, status: 'failed', error: code === null ? `pod failed${why}` : `exited with status ${code}${why}`, outputs: [] });
    }
    const outputs = await collectScratch(t.job, join(t.dir, String(t.index)));
    if (typeof outputs === 'string') return this.settle(t, { ...base, status: 'failed', error: outputs, outputs: [] });
    this.settle(t, { ...base, status: 'succeeded', error: null, outputs });
  }

  private failure(t: Task, status: 'failed' | 'cancelled', error: string): JobResult {
    return unreported(t, status, error, t.jobName ? `${t.jobName}/${t.index}` : null, () => this.dispose(t));
  }

  private settle(t: Task, r: JobResult): void {
    settleTask(t, r, this.journal);
  }

  private cancel(t: Task): void {
    const was = t.state;
    if (was === 'queued') this.batcher.remove(t.job.stage.name, t);
    this.settle(t, this.failure(t, 'cancelled', 'cancelled'));
    if (was === 'waiting') {
      this.waiting.delete(`${t.namespace}/${t.jobName}/${t.index}`);
      this.pending.push(this.deleteJob(t.namespace, t.jobName));
    }
  }

  /** Deletes a Job with its pods (and, through ownership, its Secret). */
  private async deleteJob(namespace: string, name: string): Promise<void> {
    if (this.deleting.has(`${namespace}/${name}`)) return;
    this.deleting.add(`${namespace}/${name}`);
    const { batch } = await this.connect();
    await batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }).catch(() => undefined);
  }

  private async dispose(t: Task): Promise<void> {
    if (t.job.cacheKey) this.journal.drop([t.job.cacheKey]);
    if (!t.dir) return;
    await Promise.all(['rc', 'start'].map((e) => rm(join(t.dir, `${t.index}.${e}`), { force: true })));
    await rm(join(t.dir, String(t.index)), { recursive: true, force: true });
  }

  async close(): Promise<void> {
    while (this.pending.length) await Promise.all(this.pending.splice(0));
    for (const [ns, ac] of [...this.watches]) {
      this.watches.delete(ns);
      ac?.abort();
    }
    // Finished Jobs go now rather than at their TTL; the Secret goes with its owner.
    this.journal.compact();
    for (const dir of this.touched) if (!this.journal.hasDir(dir)) await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined); // a cancelled task may still be writing there
    await Promise.all(this.jobsMade.filter((j) => !this.journal.hasDir(j.dir)).map((j) => this.deleteJob(j.namespace, j.name)));
  }

}

function apiError(e: unknown): string {
  const err = e as { code?: number; body?: unknown; message?: string };
  let msg = err.message ?? String(e);
  try {
    const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    if (body && typeof body === 'object' && 'message' in body) msg = `${(body as { message: string }).message}${err.code ? ` (HTTP ${err.code})` : ''}`;
  } catch { /* not JSON */ }
  return msg.split('\n')[0]!;
}

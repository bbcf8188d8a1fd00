// A local simulation of the part of the Kubernetes API server the Kubernetes executor
// uses, for its tests (no API server can run on these machines). It speaks the real
// REST subset: POST/GET/DELETE batch/v1 Jobs, POST v1 Secrets, GET v1 Pods (list and
// `watch=true` event streams from a resourceVersion), GET pods/NAME/log, with the API
// server's status codes and Status bodies. It validates every object it receives
// against the official OpenAPI schemas (kubernetes-models) and answers 422 to an
// invalid one. Each pod of an Indexed Job runs its container's command as a local
// process (with JOB_COMPLETION_INDEX and the envFrom Secret's keys), so the data the
// commands read and write is real; killPod stands in for a node failure.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Secret } from 'kubernetes-models/v1/Secret';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Pod {
  obj: Obj;
  proc: ChildProcess | null;
  log: string;
  /** The container's own /tmp (TMPDIR), discarded with it as a real one is. */
  tmp?: string;
}

export interface SimRequest { method: string; path: string; status: number }

export class KubeSim {
  readonly requests: SimRequest[] = [];
  /** Objects refused with 422, with the validator's message. */
  readonly rejected: { kind: string; message: string }[] = [];
  readonly jobs = new Map<string, Obj>();
  readonly deletedJobs: string[] = [];
  readonly createdJobs: Obj[] = [];
  readonly secrets = new Map<string, Obj>();
  readonly pods = new Map<string, Pod>();
  private rv = 1;
  private readonly events: { rv: number; ns: string; type: string; obj: Obj }[] = [];
  private readonly watchers = new Set<{ ns: string; selector: [string, string] | null; res: http.ServerResponse }>();
  private server: http.Server | null = null;
  url = '';

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => { void this.handle(req, res); });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** A kubeconfig file's text for this server. */
  kubeconfig(namespace = 'default'): string {
    return `apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: ${this.url}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: sim\n  context:\n    cluster: sim\n    user: sim\n    namespace: ${namespace}\ncurrent-context: sim\nusers:\n- name: sim\n  user:\n    token: sim-token\n`;
  }

  async stop(): Promise<void> {
    for (const p of this.pods.values()) this.kill(p);
    for (const w of this.watchers) w.res.end();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections?.();
  }

  /** Kills a running pod's process outright, as a lost node would. */
  killPod(match: (pod: Obj) => boolean): string | null {
    for (const p of this.pods.values()) {
      if (p.proc && p.obj.status.phase === 'Running' && match(p.obj)) {
        this.kill(p);
        return p.obj.metadata.name as string;
      }
    }
    return null;
  }

  private kill(p: Pod): void {
    try { if (p.proc?.pid) process.kill(-p.proc.pid, 'SIGKILL'); } catch { /* gone */ }
  }

  private status(res: http.ServerResponse, code: number, reason: string, message: string): void {
    this.json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: code < 300 ? 'Success' : 'Failure', message, reason, code });
  }

  private json(res: http.ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private emit(ns: string, type: string, obj: Obj): void {
    obj.metadata.resourceVersion = String(++this.rv);
    const copy = JSON.parse(JSON.stringify(obj)) as Obj;
    this.events.push({ rv: this.rv, ns, type, obj: copy });
    for (const w of this.watchers) if (w.ns === ns && matches(copy, w.selector)) w.res.write(JSON.stringify({ type, object: copy }) + '\n');
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', this.url);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Obj) : null;
    const origEnd = res.end.bind(res);
    res.end = ((...a: unknown[]) => {
      this.requests.push({ method: req.method!, path: u.pathname + (u.search || ''), status: res.statusCode });
      return (origEnd as (...x: unknown[]) => http.ServerResponse)(...a);
    }) as typeof res.end;
    if (req.headers.authorization !== 'Bearer sim-token') return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    let m: RegExpExecArray | null;
    if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs$/.exec(u.pathname)) && req.method === 'POST') return this.createJob(res, m[1]!, body!);
    if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs\/([^/]+)$/.exec(u.pathname))) {
      const key = `${m[1]}/${m[2]}`;
      const job = this.jobs.get(key);
      if (!job) return this.status(res, 404, 'NotFound', `jobs.batch "${m[2]}" not found`);
      if (req.method === 'GET') return this.json(res, 200, job);
      if (req.method === 'DELETE') return this.deleteJob(res, m[1]!, key, job);
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets$/.exec(u.pathname)) && req.method === 'POST') return this.createSecret(res, m[1]!, body!);
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(u.pathname)) && req.method === 'GET') return this.pods_(req, res, m[1]!, u);
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(u.pathname)) && req.method === 'GET') {
      const pod = this.pods.get(`${m[1]}/${m[2]}`);
      if (!pod) return this.status(res, 404, 'NotFound', `pods "${m[2]}" not found`);
      res.writeHead(200, { 'content-type': 'text/plain' });
      return void res.end(pod.log);
    }
    this.status(res, 404, 'NotFound', `the server could not find the requested resource (${req.method} ${u.pathname})`);
  }

  private validate(res: http.ServerResponse, kind: 'Job' | 'Secret', body: Obj): boolean {
    try {
      (kind === 'Job' ? new Job(body as never) : new Secret(body as never)).validate();
      if (body.kind !== kind) throw new Error(`kind must be ${kind}`);
      return true;
    } catch (e) {
      const message = `${kind}.${kind === 'Job' ? 'batch' : ''} "${body?.metadata?.name}" is invalid: ${(e as Error).message}`;
      this.rejected.push({ kind, message });
      this.status(res, 422, 'Invalid', message);
      return false;
    }
  }

  private createJob(res: http.ServerResponse, ns: string, body: Obj): void {
    if (!this.validate(res, 'Job', body)) return;
    const name = body.metadata.name as string;
    if (this.jobs.has(`${ns}/${name}`)) return this.status(res, 409, 'AlreadyExists', `jobs.batch "${name}" already exists`);
    if (body.spec.completionMode !== 'Indexed') return this.status(res, 422, 'Invalid', 'this simulation runs Indexed Jobs only');
    const job = { ...body, metadata: { ...body.metadata, namespace: ns, uid: randomUUID(), creationTimestamp: new Date().toISOString(), resourceVersion: String(++this.rv) }, status: {} };
    this.jobs.set(`${ns}/${name}`, job);
    this.createdJobs.push(job);
    this.json(res, 201, job);
    for (let i = 0; i < (body.spec.completions as number); i++) this.startPod(ns, job, i);
  }

  private deleteJob(res: http.ServerResponse, ns: string, key: string, job: Obj): void {
    this.jobs.delete(key);
    this.deletedJobs.push(job.metadata.name as string);
    for (const [k, s] of this.secrets) if ((s.metadata.ownerReferences ?? []).some((o: Obj) => o.uid === job.metadata.uid)) this.secrets.delete(k);
    for (const [k, p] of this.pods) {
      if (p.obj.metadata.labels['job-name'] !== job.metadata.name) continue;
      this.kill(p);
      this.pods.delete(k);
      this.emit(ns, 'DELETED', p.obj);
    }
    this.status(res, 200, '', `jobs.batch "${job.metadata.name}" deleted`);
  }

  private createSecret(res: http.ServerResponse, ns: string, body: Obj): void {
    if (!this.validate(res, 'Secret', body)) return;
    const name = body.metadata.name as string;
    if (this.secrets.has(`${ns}/${name}`)) return this.status(res, 409, 'AlreadyExists', `secrets "${name}" already exists`);
    const owners = (body.metadata.ownerReferences ?? []) as Obj[];
    if (owners.some((o) => ![...this.jobs.values()].some((j) => j.metadata.uid === o.uid))) {
      // The real API server accepts dangling owners and the garbage collector deletes the object; so do we.
      return this.json(res, 201, body);
    }
    const secret = { ...body, metadata: { ...body.metadata, namespace: ns, uid: randomUUID(), resourceVersion: String(++this.rv) } };
    this.secrets.set(`${ns}/${name}`, secret);
    this.json(res, 201, secret);
  }

  private pods_(req: http.IncomingMessage, res: http.ServerResponse, ns: string, u: URL): void {
    const sel = u.searchParams.get('labelSelector');
    const selector = sel ? (sel.split('=') as [string, string]) : null;
    if (u.searchParams.get('watch') !== 'true' && u.searchParams.get('watch') !== '1') {
      const items = [...this.pods.values()].map((p) => p.obj).filter((o) => o.metadata.namespace === ns && matches(o, selector));
      return this.json(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items });
    }
    const from = Number(u.searchParams.get('resourceVersion') ?? this.rv);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders(); // as the API server does: the client sees the watch open before any event
    for (const e of this.events) if (e.rv > from && e.ns === ns && matches(e.obj, selector)) res.write(JSON.stringify({ type: e.type, object: e.obj }) + '\n');
    const w = { ns, selector, res };
    this.watchers.add(w);
    this.requests.push({ method: 'GET', path: u.pathname + u.search, status: 200 });
    req.on('close', () => this.watchers.delete(w));
  }

  private startPod(ns: string, job: Obj, index: number): void {
    const name = `${job.metadata.name}-${index}-${randomUUID().slice(0, 5)}`;
    const tpl = job.spec.template;
    const obj: Obj = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        name, namespace: ns, uid: randomUUID(),
        labels: { ...(tpl.metadata?.labels ?? {}), 'job-name': job.metadata.name, 'batch.kubernetes.io/job-name': job.metadata.name, 'batch.kubernetes.io/job-completion-index': String(index) },
        annotations: { 'batch.kubernetes.io/job-completion-index': String(index) },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid: job.metadata.uid, controller: true }],
      },
      spec: tpl.spec,
      status: { phase: 'Pending' },
    };
    const pod: Pod = { obj, proc: null, log: '' };
    this.pods.set(`${ns}/${name}`, pod);
    this.emit(ns, 'ADDED', obj);
    const c = tpl.spec.containers[0] as Obj;
    const run = (tries: number): void => {
      if (!this.pods.has(`${ns}/${name}`)) return;
      pod.tmp ??= mkdtempSync(join(tmpdir(), 'k8s-sim-pod-'));
      const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', JOB_COMPLETION_INDEX: String(index), TMPDIR: pod.tmp };
      for (const e of (c.env ?? []) as Obj[]) env[e.name] = e.value;
      for (const ef of (c.envFrom ?? []) as Obj[]) {
        const s = this.secrets.get(`${ns}/${ef.secretRef.name}`);
        if (!s) {
          // The kubelet retries a pod whose Secret is not there yet (CreateContainerConfigError).
          if (tries < 200) return void setTimeout(() => run(tries + 1), 25);
          return this.finish(ns, pod, 1, 'CreateContainerConfigError');
        }
        Object.assign(env, s.stringData ?? {}, Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v as string, 'base64').toString()])));
      }
      const argv = [...(c.command ?? []), ...(c.args ?? [])] as string[];
      const proc = spawn(argv[0]!, argv.slice(1), { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      pod.proc = proc;
      proc.stdout!.on('data', (d: Buffer) => { pod.log += d.toString(); });
      proc.stderr!.on('data', (d: Buffer) => { pod.log += d.toString(); });
      obj.status = { phase: 'Running', startTime: new Date().toISOString(), containerStatuses: [{ name: c.name, ready: true, restartCount: 0, image: c.image, imageID: '', state: { running: {} } }] };
      this.emit(ns, 'MODIFIED', obj);
      proc.on('close', (code, signal) => this.finish(ns, pod, code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), code === null ? 'Error' : code === 0 ? 'Completed' : 'Error'));
    };
    setTimeout(() => run(0), 10);
  }

  private finish(ns: string, pod: Pod, exitCode: number, reason: string): void {
    pod.proc = null;
    if (pod.tmp) rmSync(pod.tmp, { recursive: true, force: true });
    pod.tmp = undefined;
    if (!this.pods.has(`${ns}/${pod.obj.metadata.name}`)) return;
    const c = pod.obj.spec.containers[0] as Obj;
    pod.obj.status = {
      ...pod.obj.status, phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      containerStatuses: [{ name: c.name, ready: false, restartCount: 0, image: c.image, imageID: '', state: { terminated: { exitCode, reason, finishedAt: new Date().toISOString() } } }],
    };
    this.emit(ns, 'MODIFIED', pod.obj);
  }
}

function matches(o: Obj, selector: [string, string] | null): boolean {
  return !selector || o.metadata?.labels?.[selector[0]] === selector[1];
}

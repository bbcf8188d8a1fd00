// The Kubernetes executor against the local API-server simulation (tests/helpers/
// k8s-sim.ts: the REST subset the executor uses, objects validated against the
// official OpenAPI schemas, each pod's command run as a local process). Not a live
// cluster: what is shown here is the executor's side of the protocol and that every
// manifest it sends is valid. Scenarios: a batched run gives the local executor's
// bytes; a failing and a killed pod are retried; Ctrl-C deletes the Jobs; a killed
// dv run re-attaches; the credentials go in a Secret owned by the Job.
import fs from 'node:fs';
import path from 'node:path';
import { Job as K8sJob } from 'kubernetes-models/batch/v1/Job';
import { Secret as K8sSecret } from 'kubernetes-models/v1/Secret';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/pipeline/config.js';
import { jobManifest, secretManifest } from '../../src/pipeline/executors/kubernetes-manifests.js';
import { KubernetesExecutor } from '../../src/pipeline/executors/kubernetes.js';
import { taskSpec } from '../../src/pipeline/executors/task-spec.js';
import { runPipeline } from '../../src/pipeline/run.js';
import { Repo } from '../../src/repo/repo.js';
import { dv, dvJson, dvOk, spawnDv, TempDirs, waitFor } from '../helpers/cli.js';
import { KubeSim } from '../helpers/k8s-sim.js';

const dirs = new TempDirs();
const sim = new KubeSim();
let env: Record<string, string>;

beforeAll(async () => {
  await sim.start();
  const cfg = path.join(dirs.make('dv-kube-'), 'config');
  fs.writeFileSync(cfg, sim.kubeconfig('dv-jobs'));
  env = { KUBECONFIG: cfg };
});
afterAll(async () => {
  await sim.stop();
  dirs.cleanup();
});

async function project(n: number, cmd: string, extra: string): Promise<string> {
  const root = dirs.make('dv-kube-');
  await dvOk(root, ['init']);
  fs.mkdirSync(path.join(root, 'data'));
  for (let i = 0; i < n; i++) fs.writeFileSync(path.join(root, 'data', `f${i}.txt`), `datum ${i}\n`);
  fs.writeFileSync(path.join(root, 'dv.yaml'), `stages:\n  up:\n    foreach: data/*.txt\n    cmd: ${cmd}\n    outs: [upper/]\n    executor: kubernetes\n${extra}`);
  return root;
}

const lines = (f: string): string[] => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean) : []);
/** Whether a Job or pod is the project's: its path (data: shared) or its bucket (data: s3) appears in it. */
const ofProject = (o: unknown, root: string): boolean => JSON.stringify(o).toLowerCase().includes(path.basename(root).toLowerCase());
const jobsOf = (root: string): Record<string, unknown>[] => sim.createdJobs.filter((j) => ofProject(j, root));

interface DatumRec { id: string; status: string; attempts: number; engineJob?: string; log: string | null }
async function lastRecord(root: string): Promise<{ status: string; stages: { datums: DatumRec[] }[] }> {
  const runs = await dvJson<{ id: string }[]>(root, ['runs', '--json']);
  return (await dvJson<{ record: { status: string; stages: { datums: DatumRec[] }[] } }>(root, ['runs', 'show', runs[0]!.id, '--json'])).record;
}

describe('kubernetes manifests', () => {
  it('are valid against the Kubernetes OpenAPI schemas, with every stage key mapped', () => {
    const cfg = parseConfig(`stages:
  up:
    foreach: data/*.csv
    cmd: cp \${in} \${out}
    outs: [out/]
    executor: kubernetes
    image: python:3.12-slim
    timeout: 300
    kubernetes:
      namespace: ml
      serviceAccount: dv-runner
      nodeSelector: { pool: cpu }
      tolerations: [{ key: dedicated, operator: Equal, value: dv, effect: NoSchedule }]
      volumeClaim: project
`);
    const stage = cfg.stages.get('up')!;
    const datum = { id: 'data/a.csv', input: 'data/a.csv', inputHash: 'x', rel: 'a.csv', key: null, out: 'out/a.csv' };
    const task = taskSpec({ runId: 'r', stage, datum, params: {}, attempt: 1 } as never, '/srv/p', '/srv/p/.dv/cluster/kubernetes/b/0');
    const o = { stage, name: 'dv-up-abc', namespace: 'ml', dir: '/srv/p/.dv/cluster/kubernetes/b', root: '/srv/p', tasks: [task, task], secretEnv: { AWS_ACCESS_KEY_ID: 'k' } };
    const job = jobManifest(o) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(() => new K8sJob(job).validate()).not.toThrow();
    expect(() => new K8sSecret(secretManifest(o, 'uid-1') as never).validate()).not.toThrow();
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 2, parallelism: 2, backoffLimitPerIndex: 0, ttlSecondsAfterFinished: 600, activeDeadlineSeconds: 300 });
    const pod = job.spec.template.spec;
    expect(pod).toMatchObject({ restartPolicy: 'Never', serviceAccountName: 'dv-runner', nodeSelector: { pool: 'cpu' }, tolerations: [{ key: 'dedicated', effect: 'NoSchedule' }] });
    expect(pod.containers[0].image).toBe('python:3.12-slim');
    expect(pod.containers[0].envFrom).toEqual([{ secretRef: { name: 'dv-up-abc' } }]);
    expect(pod.volumes).toEqual([{ name: 'project', persistentVolumeClaim: { claimName: 'project' } }]);
    expect(secretManifest(o, 'uid-1').metadata.ownerReferences).toEqual([{ apiVersion: 'batch/v1', kind: 'Job', name: 'dv-up-abc', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    // The validator is not a rubber stamp: a broken Job fails it.
    expect(() => new K8sJob({ ...job, spec: { ...job.spec, completionMode: 'Sometimes' } }).validate()).toThrow(/completionMode/);
  });

  it('dv run --dry-run --executor kubernetes prints the Job YAML', async () => {
    const root = await project(3, '"cp ${in} ${out}"', '    batch: 2\n');
    const r = await dvOk(root, ['run', '-n'], { env });
    const docs = r.stdout.split('# kubernetes batch of stage up').slice(1);
    expect(docs).toHaveLength(2);
    expect(docs[0]).toContain('kind: Job');
    expect(docs[0]).toContain('completionMode: Indexed');
    expect(docs[0]).toContain('completions: 2');
    expect(jobsOf(root)).toHaveLength(0);
  }, 60_000);
});

describe('executor: kubernetes (simulated API server)', () => {
  it('runs batches as Indexed Jobs with data through dv serve (the default without a volume), outputs equal to the local executor, logs from the pods, Jobs cleaned up', async () => {
    const logs = dirs.make('dv-kube-log-');
    const seen = path.join(logs, 'seen.log');
    // The pod's key reads the run's inputs only: reading main is refused (403), and nothing is mounted.
    const cmd = `"[ -z \\"$DV_JOB_IO\\" ] || node $DV_JOB_IO get s3://$DV_BUCKET/main/data/f0.txt /dev/null 2>> ${seen}; echo converting $DV_DATUM; tr a-z A-Z < \${in} > \${out}"`;
    const root = await project(4, cmd, '    batch: 3\n');
    const local = await project(4, cmd, '').then((r) => {
      fs.writeFileSync(path.join(r, 'dv.yaml'), fs.readFileSync(path.join(r, 'dv.yaml'), 'utf8').replace('executor: kubernetes', 'executor: local'));
      return r;
    });
    for (const r of [root, local]) {
      await dvOk(r, ['add', 'data/f0.txt', 'data/f1.txt']);
      fs.writeFileSync(path.join(r, 'data', 'f1.txt'), 'changed, not committed\n');
    }
    await dvOk(root, ['run'], { env, timeoutMs: 120_000 });
    await dvOk(local, ['run']);
    const tree = async (r: string): Promise<unknown> => (await dvJson<{ path: string; hash: string }[]>(r, ['ls', '-r', '--json'])).map((e) => [e.path, e.hash]);
    expect(await tree(root)).toEqual(await tree(local));
    expect(fs.readFileSync(path.join(root, 'upper', 'f1.txt'), 'utf8')).toBe('CHANGED, NOT COMMITTED\n');
    expect(lines(seen)).toHaveLength(4);
    expect(lines(seen).every((l) => /HTTP 403 AccessDenied/.test(l))).toBe(true);
    const jobs = jobsOf(root) as any[]; // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const j of jobs) {
      expect(() => new K8sJob(j).validate()).not.toThrow();
      expect(j.spec.template.spec.volumes).toBeUndefined();
      expect(j.spec.template.spec.containers[0].image).toBe('node:20-bookworm-slim');
      expect(j.spec.template.spec.containers[0].envFrom).toEqual([{ secretRef: { name: j.metadata.name } }]);
    }
    expect(jobs.map((j) => j.spec.completions).sort()).toEqual([1, 3]);
    expect(sim.rejected).toEqual([]);
    for (const j of jobs) expect(sim.deletedJobs).toContain(j.metadata.name); // cleaned up at the end
    const rec = await lastRecord(root);
    const d = rec.stages[0]!.datums.find((x) => x.id === 'data/f3.txt')!;
    expect(d.engineJob).toMatch(/^dv-up-[0-9a-f]+\/[0-2]$/);
    const log = await dvOk(root, ['runs', 'logs', (await dvJson<{ id: string }[]>(root, ['runs', '--json']))[0]!.id, 'up:data/f3.txt'], { env });
    expect(log.stdout).toContain('converting data/f3.txt');
    expect((await dvJson<unknown[]>(root, ['keys', 'list', '--json']))).toEqual([]); // the job keys were revoked

    // A pod whose upload does not match what it reported fails its datum; nothing is committed.
    const head = (await dvOk(root, ['log', '-n', '1', '--json'])).stdout;
    fs.writeFileSync(path.join(root, 'dv.yaml'), fs.readFileSync(path.join(root, 'dv.yaml'), 'utf8') + '    env: { JOB_IO_CORRUPT: "1" }\n');
    const bad = await dv(root, ['run', 'upper/f2.txt'], { env, timeoutMs: 120_000 });
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.stderr).toMatch(/output upper\/f\d\.txt arrived damaged: (\d+) bytes with SHA-256 [0-9a-f]{12}…, the job reported \1 bytes/);
    expect((await dvOk(root, ['log', '-n', '1', '--json'])).stdout).toBe(head);
  }, 120_000);

  it('a failing pod and a killed pod are failed attempts, retried in new Jobs', async () => {
    const logs = dirs.make('dv-kube-log-');
    const count = path.join(logs, 'ran.log');
    const cmd = `"echo $DV_DATUM >> ${count}; if [ $DV_DATUM = data/f1.txt ] && [ $DV_ATTEMPT = 1 ]; then exit 3; fi; if [ $DV_DATUM = data/f2.txt ] && [ $DV_ATTEMPT = 1 ]; then sleep 60; fi; cp \${in} \${out}"`;
    const root = await project(3, cmd, '    batch: 3\n    retries: 1\n');
    const run = spawnDv(root, ['run'], { env, timeoutMs: 120_000 });
    if (!(await waitFor(() => lines(count).includes('data/f2.txt'), 30_000, 20))) throw new Error(`never ran f2: ${JSON.stringify(await run.done)}`);
    await new Promise((r) => setTimeout(r, 200));
    expect(sim.killPod((p) => ofProject(p, root) && p.metadata.annotations['batch.kubernetes.io/job-completion-index'] === '2')).not.toBeNull();
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(lines(count).sort()).toEqual(['data/f0.txt', 'data/f1.txt', 'data/f1.txt', 'data/f2.txt', 'data/f2.txt']);
    const rec = await lastRecord(root);
    expect(rec.stages[0]!.datums.map((d) => [d.id, d.attempts])).toEqual([['data/f0.txt', 1], ['data/f1.txt', 2], ['data/f2.txt', 2]]);
    expect(jobsOf(root).length).toBeGreaterThanOrEqual(2); // the retries went in new Jobs
  }, 120_000);

  it('Ctrl-C deletes the Jobs (and their pods)', async () => {
    const logs = dirs.make('dv-kube-log-');
    const count = path.join(logs, 'ran.log');
    const root = await project(4, `"echo $DV_DATUM >> ${count}; sleep 60; cp \${in} \${out}"`, '    batch: 2\n');
    const run = spawnDv(root, ['run'], { env, timeoutMs: 120_000 });
    expect(await waitFor(() => lines(count).length === 4, 30_000, 20)).toBe(true);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(130);
    const names = jobsOf(root).map((j) => (j.metadata as { name: string }).name);
    expect(names).toHaveLength(2);
    for (const n of names) expect(sim.deletedJobs).toContain(n);
    expect([...sim.pods.values()].filter((p) => ofProject(p.obj, root))).toEqual([]);
  }, 120_000);

  it('a dv run killed while its pods run is restarted and re-attaches: no datum runs twice, no new Job', async () => {
    const logs = dirs.make('dv-kube-log-');
    const count = path.join(logs, 'ran.log');
    const go = path.join(logs, 'go');
    // data: shared: a pod of data: s3 would lose the killed run's dv serve (re-attach needs a lasting DV_JOB_URL).
    const root = await project(6, `"echo $DV_DATUM >> ${count}; while [ ! -e ${go} ]; do sleep 0.1; done; cp \${in} \${out}"`, '    batch: 3\n    data: shared\n');
    const first = spawnDv(root, ['run'], { env, timeoutMs: 120_000 });
    expect(await waitFor(() => lines(count).length === 6, 30_000, 20)).toBe(true);
    first.child.kill('SIGKILL');
    await first.done;
    const before = jobsOf(root).length;
    expect(before).toBe(2);
    const second = spawnDv(root, ['run'], { env, timeoutMs: 120_000 });
    await new Promise((r) => setTimeout(r, 1500));
    fs.writeFileSync(go, '');
    const r = await second.done;
    expect(r.code, r.stderr).toBe(0);
    expect(lines(count)).toHaveLength(6);
    expect(jobsOf(root)).toHaveLength(before);
    expect(fs.readdirSync(path.join(root, 'upper')).sort()).toEqual(['f0.txt', 'f1.txt', 'f2.txt', 'f3.txt', 'f4.txt', 'f5.txt']);
  }, 120_000);

  it('credentials reach the pods through a Secret owned by the Job, gone with it', async () => {
    const logs = dirs.make('dv-kube-log-');
    const seen = path.join(logs, 'seen.log');
    const root = await project(2, `"echo $DV_DATUM $AWS_ACCESS_KEY_ID >> ${seen}; cp \${in} \${out}"`, '    batch: 2\n    data: shared\n');
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = env.KUBECONFIG;
    const repo = Repo.open(root);
    try {
      const scopes: unknown[] = [];
      const executor = new KubernetesExecutor({
        root, dvDir: repo.dvDir,
        credentials: async (scope) => { scopes.push(scope); return { AWS_ACCESS_KEY_ID: 'DVJOBKEY1', AWS_SECRET_ACCESS_KEY: 's3cret' }; },
      });
      const r = await runPipeline(repo, { executor });
      await executor.close();
      expect(r.status).toBe('succeeded');
      expect(scopes).toEqual([{ runId: r.runId, stage: 'up', datums: ['data/f0.txt', 'data/f1.txt'] }]);
    } finally {
      repo.close();
      process.env.KUBECONFIG = saved;
    }
    expect(lines(seen).sort()).toEqual(['data/f0.txt DVJOBKEY1', 'data/f1.txt DVJOBKEY1']);
    const job = jobsOf(root)[0] as { metadata: { name: string } };
    expect(sim.requests.some((q) => q.method === 'POST' && q.path === '/api/v1/namespaces/dv-jobs/secrets' && q.status === 201)).toBe(true);
    expect(sim.deletedJobs).toContain(job.metadata.name);
    expect([...sim.secrets.keys()].filter((k) => k.endsWith(job.metadata.name))).toEqual([]); // garbage-collected with its owner
  }, 120_000);
});

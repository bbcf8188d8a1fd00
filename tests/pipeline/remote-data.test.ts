// data: s3 through `dv serve --remote`: two servers as child processes, each on its
// own clone of one s3rver remote, behind a round-robin TCP balancer; the Slurm
// executor (scripts/slurm-test-cluster.sh) runs the jobs. One scenario: the run's
// jobs read their inputs and write their outputs through both servers; the
// coordinating dv run is SIGKILLed while they wait and started again: it re-attaches
// and no datum runs twice; meanwhile a job's key, taken from its environment, cannot
// read outside its inputs or write outside its batch's area, and is refused once its
// record expires; after the run, its keys are revoked (403) and the outputs and tree
// equal the local executor's.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KubeSim } from '../helpers/k8s-sim.js';
import { committedTree, dvJson, dvOk, REPO_ROOT, spawnDv, TempDirs, waitFor } from '../helpers/cli.js';
import { startS3Server, type S3TestServer } from '../helpers/s3server.js';
import { startServe, stopServe, type Served } from '../helpers/serve.js';

const dirs = new TempDirs();
let s3: S3TestServer;
const servers: Served[] = [];
let balancer: net.Server | undefined;

beforeAll(async () => {
  // Not a skip: without Slurm this fails, as it must in CI.
  execFileSync(path.join(REPO_ROOT, 'scripts', 'slurm-test-cluster.sh'), { stdio: 'pipe' });
  s3 = await startS3Server();
}, 120_000);
afterAll(async () => {
  balancer?.close();
  for (const s of servers) await stopServe(s);
  await s3?.stop();
  dirs.cleanup();
});

/** Connection k goes to backend k mod n: what an L4 load balancer does. */
function roundRobin(ports: number[]): Promise<{ port: number; conns: number[] }> {
  const conns = ports.map(() => 0);
  let k = 0;
  balancer = net.createServer((c) => {
    const i = k++ % ports.length;
    conns[i]!++;
    const up = net.connect(ports[i]!, '127.0.0.1');
    c.pipe(up).pipe(c);
    const end = (): void => { c.destroy(); up.destroy(); };
    c.on('error', end);
    up.on('error', end);
  });
  return new Promise((r) => balancer!.listen(0, '127.0.0.1', () => r({ port: (balancer!.address() as net.AddressInfo).port, conns })));
}

const lines = (f: string): string[] => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean) : []);

it('data: s3 through two dv serve --remote behind a balancer: keys scoped, re-attach runs no datum twice, bytes equal local', async () => {
  const env = { ...s3.env, DV_SLURM_POLL_MS: '100', DV_JOB_KEY_CACHE_MS: '100', DV_REMOTE_SETTLE_MS: '50' };
  const logs = dirs.make('dv-rd-log-');
  const ran = path.join(logs, 'ran.log');
  const go = path.join(logs, 'go');
  // Each datum logs itself, leaves its key's environment for the test, waits for the go-ahead
  // (or for the test's directories to go: a test that failed half-way leaves no job running).
  const cmd = `"echo $DV_DATUM >> ${ran}; env | grep -E '^(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|DV_BUCKET)=' > ${logs}/$(basename $DV_DATUM).env; `
    + `while [ ! -e ${go} ] && [ -d ${logs} ]; do sleep 0.2; done; tr a-z A-Z < \${in} > \${out}"`;
  const make = async (parent: string): Promise<string> => {
    const root = path.join(dirs.make(parent), 'weather');
    fs.mkdirSync(path.join(root, 'data'), { recursive: true });
    await dvOk(root, ['init']);
    for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(root, 'data', `f${i}.txt`), `datum ${i}\n${'x'.repeat(i * 1000)}\n`);
    fs.writeFileSync(path.join(root, 'dv.yaml'), `stages:\n  up:\n    foreach: data/*.txt\n    cmd: ${cmd}\n    outs: [upper/]\n    executor: slurm\n    data: s3\n    batch: 2\n`);
    await dvOk(root, ['add', 'data', '-m', 'inputs']);
    return root;
  };
  const root = await make('dv-rd-src-');
  await dvOk(root, ['remote', 'add', 'origin', `s3://${s3.bucket}/weather`, '--endpoint', s3.endpoint], { env });
  await dvOk(root, ['push'], { env });
  fs.writeFileSync(path.join(root, 'data', 'f3.txt'), 'changed, not committed\n'); // jobs read the workspace as the run sees it
  // Two servers, each its own machine's clone of the remote.
  const clones: string[] = [];
  for (const n of [1, 2]) {
    const clone = path.join(dirs.make(`dv-rd-serve${n}-`), 'weather');
    await dvOk(path.dirname(clone), ['clone', `s3://${s3.bucket}/weather`, clone, '--endpoint', s3.endpoint], { env });
    clones.push(clone);
    servers.push(await startServe(clone, ['--remote', 'origin', '-v'], env));
  }
  const lb = await roundRobin(servers.map((s) => s.port));
  const args = ['run', '--data-endpoint', `http://127.0.0.1:${lb.port}/weather`];

  const first = spawnDv(root, args, { env, timeoutMs: 200_000 });
  const envFiles = (): string[] => fs.readdirSync(logs).filter((f) => f.endsWith('.env') && lines(path.join(logs, f)).length === 4);
  expect(await waitFor(() => envFiles().length === 2 || first.exited(), 90_000, 50)).toBe(true); // one datum per array task
  expect(lines(ran)).toHaveLength(2);
  first.child.kill('SIGKILL');
  await first.done;
  const second = spawnDv(root, [...args, '--json'], { env, timeoutMs: 200_000 });

  // A job's key, as its command sees it.
  const envFile = envFiles()[0]!;
  const je = Object.fromEntries(lines(path.join(logs, envFile)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const client = (): S3Client => new S3Client({
    endpoint: `http://127.0.0.1:${lb.port}`, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: je.AWS_ACCESS_KEY_ID!, secretAccessKey: je.AWS_SECRET_ACCESS_KEY!, sessionToken: je.AWS_SESSION_TOKEN! },
  });
  const job = client();
  const status = async (p: Promise<unknown>): Promise<string> => p.then(() => '200', (e: { $metadata?: { httpStatusCode?: number }; name?: string }) => `${e.$metadata?.httpStatusCode} ${e.name}`);
  const remote = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3.credentials });
  const keyObjects = async (): Promise<string[]> =>
    ((await remote.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'weather/jobs/keys/' }))).Contents ?? []).map((o) => o.Key!);
  const [keyObj] = (await keyObjects()).filter((k) => k.includes(je.AWS_ACCESS_KEY_ID!));
  expect(keyObj).toBeDefined();
  const rec = JSON.parse(await (await remote.send(new GetObjectCommand({ Bucket: s3.bucket, Key: keyObj }))).Body!.transformToString()) as { writePaths: string[]; read: string[] };
  expect(rec.writePaths).toHaveLength(1);
  // Reads only its inputs (the inputs commit, by id): main is refused.
  expect(await status(job.send(new GetObjectCommand({ Bucket: 'weather', Key: `${rec.read[0]}/data/f0.txt` })))).toBe('200');
  expect(await status(job.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/f0.txt' })))).toBe('403 AccessDenied');
  // Writes only below its batch: another batch's (another run's) area and main are refused.
  expect(await status(job.send(new PutObjectCommand({ Bucket: 'weather', Key: 'dv-cluster-uploads/0123456789ab/0.json', Body: '{}' })))).toBe('403 AccessDenied');
  expect(await status(job.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/x.txt', Body: 'x' })))).toMatch(/^403 /);
  // An expired record is refused, by either server.
  const body = JSON.stringify({ ...rec, expires: new Date(Date.now() - 1000).toISOString() });
  const original = await (await remote.send(new GetObjectCommand({ Bucket: s3.bucket, Key: keyObj }))).Body!.transformToString();
  await remote.send(new PutObjectCommand({ Bucket: s3.bucket, Key: keyObj, Body: body }));
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < 2; i++) { // two clients, two connections: one to each server
    const c = client();
    expect(await status(c.send(new GetObjectCommand({ Bucket: 'weather', Key: `${rec.read[0]}/data/f0.txt` })))).toBe('400 ExpiredToken'); // as AWS answers an expired session
    c.destroy();
  };
  await remote.send(new PutObjectCommand({ Bucket: s3.bucket, Key: keyObj, Body: original }));

  // Remote gc keeps what the run in flight needs: its inputs (on no ref) are not garbage.
  const gc = await dvJson<{ deleted: unknown[]; young: unknown[] }>(clones[0]!, ['gc', '--remote', '--grace', '0s', '--dry-run', '--json'], { env });
  expect(gc.deleted).toEqual([]);
  await new Promise((r) => setTimeout(r, 1500)); // the restarted run has re-attached by now
  fs.writeFileSync(go, '');
  const r = await second.done;
  expect(r.code, r.stderr).toBe(0);
  expect(lines(ran).sort()).toEqual(['data/f0.txt', 'data/f1.txt', 'data/f2.txt', 'data/f3.txt']); // none twice

  // Both servers answered the jobs (each saw requests signed with job keys).
  expect(lb.conns.every((n) => n > 0)).toBe(true);
  for (const s of servers) expect(s.stderr()).toMatch(/PUT .*dv-cluster-uploads/);
  // Revoked after the run: the key records are gone, the key gets 403.
  await new Promise((r) => setTimeout(r, 300));
  expect(await keyObjects()).toEqual([]);
  expect(await status(job.send(new GetObjectCommand({ Bucket: 'weather', Key: `${rec.read[0]}/data/f0.txt` })))).toBe('403 InvalidAccessKeyId');
  const uploads = (await remote.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'weather/jobs/uploads/' }))).Contents ?? [];
  expect(uploads).toEqual([]);
  // Nothing went through the run's own repository: no upload branch, no local job keys.
  expect((await dvOk(root, ['branch'])).stdout).not.toContain('dv-cluster-uploads');
  expect(await dvJson<unknown[]>(root, ['keys', 'list', '--json'])).toEqual([]);

  // The same project run by the local executor: the same bytes and tree.
  const local = await make('dv-rd-local-');
  fs.writeFileSync(path.join(local, 'data', 'f3.txt'), 'changed, not committed\n');
  fs.writeFileSync(go, '');
  await dvOk(local, ['run', '--executor', 'local']);
  const [a, b] = [await committedTree(root), await committedTree(local)];
  expect(a.filter((e) => e.path.startsWith('upper/'))).toHaveLength(4);
  expect(a).toEqual(b);
  for (const e of a) expect(fs.readFileSync(path.join(root, e.path))).toEqual(fs.readFileSync(path.join(local, e.path)));

  // The Kubernetes executor (the API-server simulation, pods as local processes) takes the
  // same data path: a colleague's clone runs the stage through the same two servers.
  const sim = new KubeSim();
  await sim.start();
  try {
    const kube = path.join(dirs.make('dv-rd-kube-'), 'weather');
    await dvOk(path.dirname(kube), ['clone', `s3://${s3.bucket}/weather`, kube, '--endpoint', s3.endpoint], { env });
    fs.writeFileSync(path.join(kube, 'dv.yaml'), fs.readFileSync(path.join(root, 'dv.yaml'), 'utf8').replace('executor: slurm', 'executor: kubernetes'));
    fs.writeFileSync(path.join(kube, 'data', 'f3.txt'), 'changed, not committed\n');
    fs.writeFileSync(path.join(path.dirname(kube), 'kubeconfig'), sim.kubeconfig('dv-jobs'));
    const before = lb.conns.map((n) => n);
    await dvOk(kube, args, { env: { ...env, KUBECONFIG: path.join(path.dirname(kube), 'kubeconfig') } });
    expect(sim.createdJobs.length).toBeGreaterThan(0);
    expect(lb.conns.every((n, i) => n > before[i]!)).toBe(true); // both servers again
    expect(await committedTree(kube)).toEqual(b);
    expect(await keyObjects()).toEqual([]);
  } finally {
    await sim.stop();
  }
  job.destroy();
  remote.destroy();
}, 300_000);

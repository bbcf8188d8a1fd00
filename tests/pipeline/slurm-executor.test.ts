// The Slurm executor against a real one-node Slurm cluster (scripts/slurm-test-cluster.sh,
// started by .ci/run and again here, idempotently): a 200-datum foreach stage in
// batches of 20 gives the local executor's bytes and commit tree; a task killed with
// scancel is retried; a dv run killed while its jobs run is restarted and re-attaches
// without running any datum twice; Ctrl-C scancels; --dry-run prints the scripts.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { committedTree, dv, dvJson, dvOk, REPO_ROOT, spawnDv, TempDirs, waitFor } from '../helpers/cli.js';

const dirs = new TempDirs();
const ENV = { DV_SLURM_POLL_MS: '100' };

beforeAll(() => {
  // Not a skip: without Slurm these tests fail, as they must in CI.
  execFileSync(path.join(REPO_ROOT, 'scripts', 'slurm-test-cluster.sh'), { stdio: 'pipe' });
}, 120_000);
afterAll(() => dirs.cleanup());

interface DatumRec { id: string; status: string; attempts: number; engineJob?: string; error: string | null }
interface Record_ { status: string; stages: { name: string; datums: DatumRec[] }[] }

/** A project with `n` input files and one foreach stage; `extra` goes into the stage. */
async function project(n: number, cmd: string, extra: string): Promise<string> {
  const root = dirs.make('dv-slurm-');
  await dvOk(root, ['init']);
  fs.mkdirSync(path.join(root, 'data'));
  for (let i = 0; i < n; i++) fs.writeFileSync(path.join(root, 'data', `f${String(i).padStart(3, '0')}.txt`), `datum ${i}\n${'x'.repeat(i)}\n`);
  fs.writeFileSync(path.join(root, 'dv.yaml'), `stages:\n  up:\n    foreach: data/*.txt\n    cmd: ${cmd}\n    outs: [upper/]\n${extra}`);
  return root;
}

/** Lines of a log the commands append to (outside the project, so no stray writes). */
function lines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

async function lastRecord(root: string): Promise<Record_> {
  const runs = await dvJson<{ id: string }[]>(root, ['runs', '--json']);
  return (await dvJson<{ record: Record_ }>(root, ['runs', 'show', runs[0]!.id, '--json'])).record;
}

function journal(root: string): { job: string; per: number; tasks: { index: number; datum: string }[] }[] {
  const f = path.join(root, '.dv', 'cluster', 'slurm.jsonl');
  return lines(f).map((l) => JSON.parse(l)).filter((l) => l.job);
}

/** The bucket dv serve names a project by (lowercase directory name). */
const bucketOf = (root: string): string => path.basename(root).toLowerCase();

function active(jobIds: string[]): string[] {
  const out = execFileSync('squeue', ['-h', '-r', '-j', jobIds.join(','), '-o', '%i|%T']).toString();
  return out.split('\n').filter(Boolean);
}

describe('executor: slurm', () => {
  it('200 datums in batches of 20 give the bytes and commit tree of the local executor', async () => {
    const logs = dirs.make('dv-slurm-log-');
    const count = path.join(logs, 'ran.log');
    const cmd = `"echo $DV_DATUM >> ${count}; tr a-z A-Z < \${in} > \${out}; echo $(wc -c < \${in}) >> \${out}"`;
    const slurm = await project(200, cmd, '    executor: slurm\n    batch: 20\n');
    const local = await project(200, cmd.replace(count, path.join(logs, 'local.log')), '');
    await dvOk(slurm, ['run'], { env: ENV, timeoutMs: 300_000 });
    await dvOk(local, ['run', '-j', '4']);
    const [a, b] = [await committedTree(slurm), await committedTree(local)];
    expect(a.filter((e) => e.path.startsWith('upper/'))).toHaveLength(200);
    expect(a).toEqual(b);
    for (const e of a.slice(0, 5)) expect(fs.readFileSync(path.join(slurm, e.path))).toEqual(fs.readFileSync(path.join(local, e.path)));
    expect(lines(count).sort()).toEqual([...new Set(lines(count))].sort()); // each datum ran once
    expect(lines(count)).toHaveLength(200);

    const rec = await lastRecord(slurm);
    const jobs = rec.stages[0]!.datums.map((d) => d.engineJob!);
    expect(jobs.every((j) => /^\d+_\d+$/.test(j))).toBe(true);
    // One sbatch --array job; array task k ran batch k, 20 datums each.
    expect(new Set(jobs.map((j) => j.split('_')[0])).size).toBe(1);
    const perTask = new Map<string, number>();
    for (const j of jobs) perTask.set(j, (perTask.get(j) ?? 0) + 1);
    expect([...perTask.values()]).toEqual(Array(10).fill(20));
    // Nothing left behind: results were taken, the journal is closed.
    expect(fs.existsSync(path.join(slurm, '.dv', 'cluster', 'slurm.jsonl'))).toBe(false);
    expect(fs.readdirSync(path.join(slurm, '.dv', 'cluster', 'slurm'))).toEqual([]);
    // Moving the stage back to local changes no cache key: nothing runs again.
    const again = await dvJson<{ plans: { counts: { run: number; reuse: number } }[] }>(slurm, ['run', '--dry-run', '--executor', 'local', '--json']);
    expect(again.plans[0]!.counts).toMatchObject({ run: 0, reuse: 200 });
  }, 400_000);

  it('data: s3: jobs move their data through dv serve with their own key; bytes and tree equal the local executor\'s; a damaged upload fails', async () => {
    const logs = dirs.make('dv-slurm-log-');
    const seen = path.join(logs, 'seen.log');
    // The job's key reads the run's inputs only: a read of main (the committed inputs) is refused.
    const up = `[ -z "$DV_JOB_IO" ] || node "$DV_JOB_IO" get "s3://$DV_BUCKET/main/data/f000.txt" /dev/null 2>> ${seen} || echo "$DV_DATUM refused" >> ${seen}\ntr a-z A-Z\n`;
    const yaml = (extra: string): string => `stages:\n  up:\n    foreach: data/*.txt\n    cmd: sh up.sh < \${in} > \${out}\n    deps: [up.sh]\n    outs: [upper/]\n${extra}` +
      `  count:\n    foreach: upper/*.txt\n    cmd: "wc -c < \${in} > \${out}; echo counted \${in}"\n    outs: [counts/]\n${extra}`;
    const make = async (extra: string): Promise<string> => {
      const root = await project(2, '"true"', '');
      fs.writeFileSync(path.join(root, 'up.sh'), up);
      fs.writeFileSync(path.join(root, 'dv.yaml'), yaml(extra));
      await dvOk(root, ['add', 'data', 'up.sh', '-m', 'inputs']);
      // Inputs the run's base lacks: a changed file and a new one (jobs read them all the same).
      fs.writeFileSync(path.join(root, 'data', 'f001.txt'), 'changed after the commit\n');
      fs.writeFileSync(path.join(root, 'data', 'f9.txt'), 'not committed\n');
      return root;
    };
    const served = await make('    executor: slurm\n    data: s3\n    batch: 3\n');
    const local = await make('');
    await dvOk(served, ['run'], { env: ENV, timeoutMs: 200_000 });
    await dvOk(local, ['run']);
    const [a, b] = [await committedTree(served), await committedTree(local)];
    expect(a.filter((e) => e.path.startsWith('counts/'))).toHaveLength(3);
    expect(a).toEqual(b);
    for (const e of a) expect(fs.readFileSync(path.join(served, e.path))).toEqual(fs.readFileSync(path.join(local, e.path)));
    const head = async (root: string): Promise<unknown> => {
      const c = (await dvJson<{ paths: string[]; parents: string[]; message: string }[]>(root, ['log', '-n', '1', '--json']))[0]!;
      return { paths: c.paths, parents: c.parents.length, message: c.message };
    };
    expect(await head(served)).toEqual(await head(local));
    expect(lines(seen).filter((l) => l.endsWith('refused')).sort()).toEqual(['data/f000.txt', 'data/f001.txt', 'data/f9.txt'].map((d) => `${d} refused`));
    expect(lines(seen).filter((l) => !l.endsWith('refused'))).toEqual(Array(3).fill('dv job-io: GET s3://' + bucketOf(served) + '/main/data/f000.txt: HTTP 403 AccessDenied'));
    const rec = await lastRecord(served);
    expect(rec.stages.map((s) => s.datums.length)).toEqual([3, 3]);
    expect(rec.stages[1]!.datums.every((d) => /^\d+_\d+$/.test(d.engineJob!))).toBe(true);
    const runId = (await dvJson<{ id: string }[]>(served, ['runs', '--json']))[0]!.id;
    expect((await dvOk(served, ['runs', 'logs', runId, 'count:upper/f9.txt'])).stdout).toContain('counted upper/f9.txt');
    // Nothing left: keys revoked, upload branch gone, no batch directories.
    expect((await dvJson<{ id: string }[]>(served, ['keys', 'list', '--json']))).toEqual([]);
    expect((await dvOk(served, ['branch'])).stdout).not.toContain('dv-cluster-uploads');
    expect(fs.readdirSync(path.join(served, '.dv', 'cluster', 'slurm'))).toEqual([]);

    // A job whose upload does not match what it reported: the coordinator refuses it, nothing is committed.
    const before = (await dvOk(served, ['log', '-n', '1', '--json'])).stdout;
    fs.writeFileSync(path.join(served, 'data', 'f000.txt'), 'one stale datum\n');
    const bad = await dv(served, ['run', 'up'], { env: { ...ENV, JOB_IO_CORRUPT: '1' }, timeoutMs: 200_000 });
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.stderr).toMatch(/output upper\/f000\.txt arrived damaged: 16 bytes with SHA-256 [0-9a-f]{12}…, the job reported 16 bytes/);
    expect((await dvOk(served, ['log', '-n', '1', '--json'])).stdout).toBe(before);
  }, 300_000);

  it('a task killed with scancel is a failed attempt, retried per retries', async () => {
    const logs = dirs.make('dv-slurm-log-');
    const count = path.join(logs, 'ran.log');
    const mark = path.join(logs, 'mark');
    // Datum f001 hangs on its first attempt (until scancelled), then runs normally.
    const cmd = `"echo $DV_DATUM $DV_ATTEMPT >> ${count}; if [ $DV_DATUM = data/f001.txt ] && [ ! -e ${mark} ]; then touch ${mark}; sleep 120; fi; cp \${in} \${out}"`;
    const root = await project(3, cmd, '    executor: slurm\n    retries: 1\n');
    const run = spawnDv(root, ['run'], { env: ENV, timeoutMs: 200_000 });
    expect(await waitFor(() => fs.existsSync(mark), 60_000, 50)).toBe(true);
    const task = journal(root).flatMap((b) => b.tasks.map((t) => ({ ...t, job: b.job, per: b.per }))).find((t) => t.datum === 'data/f001.txt')!;
    execFileSync('scancel', [`${task.job}_${Math.floor(task.index / task.per)}`]);
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/data\/f001\.txt failed \(attempt 1\), retrying/);
    expect(lines(count).filter((l) => l.startsWith('data/f001.txt')).sort()).toEqual(['data/f001.txt 1', 'data/f001.txt 2']);
    const d = (await lastRecord(root)).stages[0]!.datums.find((x) => x.id === 'data/f001.txt')!;
    expect(d).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(fs.readFileSync(path.join(root, 'upper', 'f001.txt'), 'utf8')).toBe('datum 1\nx\n');
  }, 300_000);

  it('a dv run killed while its jobs run is restarted, re-attaches, and runs no datum twice', async () => {
    const logs = dirs.make('dv-slurm-log-');
    const count = path.join(logs, 'ran.log');
    const go = path.join(logs, 'go');
    // Every datum waits for the test's go-ahead, so all are in Slurm when dv is killed (or
    // for the test's directories to go: a test that failed half-way leaves no job running).
    const cmd = `"echo $DV_DATUM >> ${count}; while [ ! -e ${go} ] && [ -d ${logs} ]; do sleep 0.2; done; cp \${in} \${out}"`;
    // Batches of 2 run their datums one after the other: 10 array tasks, each in its first datum.
    const root = await project(20, cmd, '    executor: slurm\n    batch: 2\n');
    const first = spawnDv(root, ['run'], { env: ENV, timeoutMs: 200_000 });
    expect(await waitFor(() => journal(root).length === 1 && lines(count).length === 10, 60_000, 50)).toBe(true);
    first.child.kill('SIGKILL');
    await first.done;
    const jobs = journal(root).map((b) => b.job);
    expect(active(jobs)).toHaveLength(10); // the jobs outlive the coordinator

    const second = spawnDv(root, ['run', '--json'], { env: ENV, timeoutMs: 200_000 });
    await new Promise((r) => setTimeout(r, 2000));
    fs.writeFileSync(go, '');
    const r = await second.done;
    expect(r.code, r.stderr).toBe(0);
    expect(lines(count)).toHaveLength(20); // no datum launched again
    const rec = await lastRecord(root);
    expect(rec.status).toBe('succeeded');
    // The restarted run took the first run's jobs: the same engine ids.
    expect(new Set(rec.stages[0]!.datums.map((d) => d.engineJob!.split('_')[0]))).toEqual(new Set(jobs));
    expect(fs.readdirSync(path.join(root, 'upper'))).toHaveLength(20);
  }, 300_000);

  it('Ctrl-C scancels the run\'s jobs', async () => {
    const logs = dirs.make('dv-slurm-log-');
    const count = path.join(logs, 'ran.log');
    const root = await project(6, `"echo $DV_DATUM >> ${count}; sleep 120; cp \${in} \${out}"`, '    executor: slurm\n    batch: 3\n');
    const run = spawnDv(root, ['run'], { env: ENV, timeoutMs: 200_000 });
    expect(await waitFor(() => lines(count).length === 2, 60_000, 50)).toBe(true); // the first datum of each batch
    const jobs = journal(root).map((b) => b.job);
    expect(active(jobs)).toHaveLength(2);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stdout + r.stderr).toBe(130);
    expect(await waitFor(() => active(jobs).length === 0, 30_000, 100)).toBe(true);
    expect(fs.existsSync(path.join(root, 'upper'))).toBe(false);
    // The next run starts the datums afresh (a cancelled job is not re-attached to).
    expect(journal(root)).toEqual([]);
  }, 300_000);

  it('--dry-run --executor slurm prints each batch\'s sbatch script and submits nothing', async () => {
    const root = await project(5, '"cp ${in} ${out}"',
      '    batch: 2\n    timeout: 90\n    slurm: { partition: debug, account: lab, gres: "gpu:1", options: [--qos=low] }\n');
    const r = await dvOk(root, ['run', '--dry-run', '--executor', 'slurm']);
    const scripts = r.stdout.split('#!/bin/bash').slice(1);
    expect(scripts).toHaveLength(1); // one array job, a task per batch of 2
    expect(scripts[0]).toContain('#SBATCH --array=0-2');
    for (const o of ['--partition=debug', '--account=lab', '--gres=gpu:1', '--qos=low', '--time=2', '--cpus-per-task=1']) expect(scripts[0]).toContain(`#SBATCH ${o}`);
    expect(scripts[0]).toContain(`cp data/f000.txt ${root}/.dv/cluster/slurm/`);
    expect(scripts[0]).toContain('export DV_DATUM=data/f001.txt');
    expect(fs.existsSync(path.join(root, '.dv', 'cluster', 'slurm.jsonl'))).toBe(false);
    const j = await dvJson<{ submissions: { stage: string; datums: string[]; text: string }[] }>(root, ['run', '-n', '--executor', 'slurm', '--json']);
    expect(j.submissions.map((s) => s.datums.length)).toEqual([5]);
  }, 60_000);

  it('batch: {duration} sizes batches from the datums\' recorded durations; --dry-run shows the sizes and the data: s3 wrapper', async () => {
    // f000 and f003 take 2 s, the others next to nothing: with a 3 s target, batches of 3.
    const root = await project(6, '"case ${in} in *f000*|*f003*) sleep 2;; esac; cp ${in} ${out}"', '    batch: { duration: 3s, default: 2 }\n    data: s3\n');
    const preview = async (): Promise<{ header: string; text: string }> => {
      const text = (await dvOk(root, ['run', '-n', '--force', '--executor', 'slurm'])).stdout;
      return { header: /# dv: stage up, .*/.exec(text)![0], text };
    };
    expect((await preview()).header).toBe('# dv: stage up, 6 datums in 3 batches of 2, data through dv serve'); // no history yet: the default
    await dvOk(root, ['run', '-j', '6']); // locally: the run record has each datum's duration
    const { header, text } = await preview();
    expect(header).toBe('# dv: stage up, 6 datums in 2 batches of 3, data through dv serve');
    expect(text).toContain('starts=(0 3 6)');
    expect(text).toContain("cat > \"$io\" <<'DV_JOB_IO'"); // job-io travels in the script
    expect(text).toMatch(/spec_of\(\) \{\n  case "\$1" in\n  0\) printf '%s' '\{"from":"s3:\/\/<bucket>\/<inputs-commit>","inputs":\["data\/f000.txt"\]/);
    expect(text).toContain('"${DV_NODE:-node}" "$io" run "${args[@]}"'); // one node process per batch
    expect(text).not.toMatch(/AWS_SECRET_ACCESS_KEY[=:"]/); // the key goes in sbatch's environment, never the script
    const k8s = (await dvOk(root, ['run', '-n', '--force', '--executor', 'kubernetes'])).stdout;
    expect(k8s.match(/completions: 3/g)).toHaveLength(2);
    expect(k8s).toContain('kind: Secret');
  }, 60_000);

  it('rejects bad cluster keys before anything runs', async () => {
    const root = await project(1, '"cp ${in} ${out}"', '    executor: lsf\n');
    const r = await dv(root, ['run']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("dv: error: dv.yaml: stages.up.executor: expected one of local, slurm, kubernetes, got string \"lsf\"\n");
    fs.writeFileSync(path.join(root, 'dv.yaml'), 'stages:\n  up:\n    cmd: "true"\n    batch: 0\n');
    expect((await dv(root, ['run'])).stderr).toMatch(/stages\.up\.batch: expected a positive integer/);
    expect((await dv(root, ['run', '--executor', 'pbs'])).code).toBe(2);
  }, 60_000);
});

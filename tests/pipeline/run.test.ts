// End to end through a real repository and real child processes: every command
// appends a line to ran.log, so each test counts exactly what ran.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBranch } from '../../src/repo/history.js';
import { Repo } from '../../src/repo/repo.js';
import { add } from '../../src/repo/snapshot.js';
import { status } from '../../src/repo/status.js';
import { fsck } from '../../src/repo/fsck.js';
import { clearTmp } from '../../src/store/maintenance.js';
import { lineage, listRuns, showRun } from '../../src/pipeline/history.js';
import { describeReason } from '../../src/pipeline/plan.js';
import type { Executor, Job } from '../../src/pipeline/executor.js';
import { LocalExecutor } from '../../src/pipeline/executors/local.js';
import { runPipeline, type RunOptions } from '../../src/pipeline/run.js';
import { takeRanLog } from '../helpers/cli.js';

const DV_YAML = `
params: { threshold: 1 }
stages:
  clean:
    foreach: data/raw/*.csv
    cmd: sh clean.sh \${in} \${out} \${threshold}
    deps: [clean.sh]
    outs: data/clean/
    partition: 'data/raw/(?<key>\\d{4}-\\d{2}-\\d{2})'
  weekly:
    cmd: sh aggregate.sh data/clean \${out}
    deps: [aggregate.sh, data/clean]
    outs: [data/weekly.csv]
`;

// A datum fails while a file named fail-<date> exists (outside every dep, so removing it changes no key).
const CLEAN_SH = `# clean one day
day=$(basename "$1" .csv)
echo "clean $day" >> ran.log
echo "cleaning $day"
if [ -e "fail-$day" ]; then echo "bad row in $day" >&2; exit 4; fi
if [ -e "flaky-$day" ]; then rm "flaky-$day"; exit 1; fi
if [ -e slow ]; then sleep 30; fi
tr a-z A-Z < "$1" > "$2"
echo "t=$3" >> "$2"
`;
const AGG_SH = 'echo weekly >> ran.log\nif [ -e fail-weekly ]; then exit 5; fi\ncat "$1"/*.csv > "$2"\n';

let root: string;
let repo: Repo;

function write(p: string, text: string): void {
  mkdirSync(join(root, p, '..'), { recursive: true });
  writeFileSync(join(root, p), text);
}

const ran = (): string[] => takeRanLog(root);

const run = (o: RunOptions = {}) => runPipeline(repo, { retryBaseDelayMs: 1, ...o });

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'dv-run-'));
  repo = Repo.init(root);
  for (const d of ['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04', '2024-01-05']) write(`data/raw/${d}.csv`, `day ${d}\n`);
  write('dv.yaml', DV_YAML);
  write('clean.sh', CLEAN_SH);
  write('aggregate.sh', AGG_SH);
  await add(repo, ['data']);
});

afterEach(() => {
  repo.close();
  rmSync(root, { recursive: true, force: true });
});

describe('runPipeline', () => {
  it('runs a target with what it depends on, commits outputs, then does nothing', async () => {
    const before = repo.headCommit();
    const r = await run({ stages: ['weekly'] });
    expect(r.error).toBeNull();
    expect(r.status).toBe('succeeded');
    expect(ran().sort()).toEqual(['clean 2024-01-01', 'clean 2024-01-02', 'clean 2024-01-03', 'clean 2024-01-04', 'clean 2024-01-05', 'weekly']);
    expect(readFileSync(join(root, 'data/clean/2024-01-03.csv'), 'utf8')).toBe('DAY 2024-01-03\nt=1\n');
    expect(readFileSync(join(root, 'data/weekly.csv'), 'utf8')).toContain('DAY 2024-01-05');
    const head = await repo.readCommit(repo.headCommit()!);
    expect(head.parents).toEqual([before]);
    expect(head.run).toBe(r.runId);
    expect(await repo.lookup(repo.headCommit()!, 'data/weekly.csv')).not.toBeNull();
    const st = await status(repo);
    expect([st.added, st.modified, st.deleted]).toEqual([[], [], []]);
    expect(readdirSync(join(root, '.dv/tmp')).filter((n) => n.startsWith('job-'))).toEqual([]);

    const again = await run();
    expect(ran()).toEqual([]);
    expect(again.commit).toBeNull();
    expect(again.plans.map((p) => p.counts)).toEqual([
      { run: 0, cached: 0, reuse: 5, remove: 0 }, { run: 0, cached: 0, reuse: 1, remove: 0 },
    ]);
  });

  it('processes only added and modified inputs and removes outputs of deleted ones', async () => {
    await run();
    ran();
    for (const d of ['2024-02-01', '2024-02-02', '2024-02-03']) write(`data/raw/${d}.csv`, `day ${d}\n`);
    write('data/raw/2024-01-02.csv', 'changed\n');
    unlinkSync(join(root, 'data/raw/2024-01-04.csv'));
    const r = await run();
    expect(ran().sort()).toEqual(['clean 2024-01-02', 'clean 2024-02-01', 'clean 2024-02-02', 'clean 2024-02-03', 'weekly']);
    expect(existsSync(join(root, 'data/clean/2024-01-04.csv'))).toBe(false);
    expect(r.plans[0]!.counts).toEqual({ run: 4, cached: 0, reuse: 3, remove: 1 });
    const head = repo.headCommit()!;
    expect(await repo.lookup(head, 'data/clean/2024-01-04.csv')).toBeNull();
    expect(await repo.lookup(head, 'data/raw/2024-01-04.csv')).toBeNull(); // the consumed inputs are committed too
    expect(await repo.lookup(head, 'data/raw/2024-02-03.csv')).not.toBeNull();
    // The replaced outputs wait, discarded, for the next run to delete them.
    const tmp = (): string[] => readdirSync(join(root, '.dv/tmp')).filter((n) => !n.startsWith('job-'));
    expect(tmp()).toEqual([expect.stringMatching(/^undo-[0-9a-f]{16}\.discarded$/)]);
    // Garbage on its way out: fsck does not report it as a leftover, and gc deletes it.
    expect((await fsck(repo)).problems['temp-files']).toBeUndefined();
    clearTmp(repo.blobs);
    expect(tmp()).toEqual([]);
    write('data/raw/2024-01-02.csv', 'changed again\n');
    await run();
    expect(tmp()).toHaveLength(1);
    await run();
    expect(tmp()).toEqual([]);
  });

  it('cuts off downstream when re-run outputs are byte-identical', async () => {
    await run();
    ran();
    write('clean.sh', CLEAN_SH + '# a comment\n');
    const r = await run();
    expect(ran()).toHaveLength(5);
    expect(r.plans[1]!.counts).toEqual({ run: 0, cached: 0, reuse: 1, remove: 0 });
    expect(r.commit).not.toBeNull(); // the new state (clean.sh hash) is recorded
    expect((await run()).commit).toBeNull();
    expect(ran()).toEqual([]);
  });

  it('a failure keeps outputs and commit, records the log, and the next run resumes', async () => {
    await run();
    ran();
    const head = repo.headCommit();
    const good = readFileSync(join(root, 'data/clean/2024-01-01.csv'), 'utf8');
    write('fail-2024-01-03', '');
    const failed = await run({ params: ['threshold=2'] });
    expect(failed.status).toBe('failed');
    expect(failed.error).toBe('stage clean: datum data/raw/2024-01-03.csv: exited with status 4');
    expect(ran()).toEqual(['clean 2024-01-01', 'clean 2024-01-02', 'clean 2024-01-03']);
    expect(repo.headCommit()).toBe(head);
    expect(readFileSync(join(root, 'data/clean/2024-01-01.csv'), 'utf8')).toBe(good);
    const shown = await showRun(repo, failed.runId!.slice(0, 8));
    expect(shown.record.status).toBe('failed');
    const log = shown.logs['clean:data/raw/2024-01-03.csv']!;
    expect(log).toContain('sh clean.sh data/raw/2024-01-03.csv data/clean/2024-01-03.csv 2');
    expect(log).toContain('bad row in 2024-01-03');
    expect(log).toContain('# attempt 1: exited with status 4');

    // With --keep-going the datums after the failed one run too (and are kept in the run-cache).
    const kept = await run({ params: ['threshold=2'], keepGoing: true });
    expect(kept.status).toBe('failed');
    expect(ran()).toEqual(['clean 2024-01-03', 'clean 2024-01-04', 'clean 2024-01-05']);
    expect(repo.headCommit()).toBe(head);

    unlinkSync(join(root, 'fail-2024-01-03'));
    const resumed = await run({ params: ['threshold=2'] });
    expect(resumed.status).toBe('succeeded');
    expect(ran()).toEqual(['clean 2024-01-03', 'weekly']);
    expect(resumed.plans[0]!.counts).toEqual({ run: 1, cached: 4, reuse: 0, remove: 0 });
    expect(readFileSync(join(root, 'data/clean/2024-01-01.csv'), 'utf8')).toBe('DAY 2024-01-01\nt=2\n');
  });

  it('a failure downstream puts back what upstream stages changed, and the next run takes them from the run-cache', async () => {
    await run();
    ran();
    const outputs = (): Record<string, string> => Object.fromEntries(['data/clean', 'data']
      .flatMap((d) => readdirSync(join(root, d)).filter((f) => f.endsWith('.csv')).map((f) => `${d}/${f}`))
      .map((p) => [p, readFileSync(join(root, p), 'utf8')]));
    const before = outputs();
    write('data/raw/2024-01-06.csv', 'day 2024-01-06\n'); // a new datum: its output is created...
    unlinkSync(join(root, 'data/raw/2024-01-05.csv'));      // ...and a removed one's output deleted
    write('fail-weekly', '');
    const failed = await run({ params: ['threshold=2'] });
    expect(failed.status).toBe('failed');
    expect(failed.commit).toBeNull();
    expect(ran()).toEqual(['clean 2024-01-01', 'clean 2024-01-02', 'clean 2024-01-03', 'clean 2024-01-04', 'clean 2024-01-06', 'weekly']);
    expect(outputs()).toEqual(before);
    expect(existsSync(join(root, 'data/clean/2024-01-06.csv'))).toBe(false);
    const st = await status(repo);
    expect([...st.modified, ...st.added, ...st.deleted].filter((p) => !p.startsWith('data/raw/'))).toEqual([]);
    expect(readdirSync(join(root, '.dv/tmp'))).toEqual([]);

    unlinkSync(join(root, 'fail-weekly'));
    const resumed = await run({ params: ['threshold=2'] });
    expect(resumed.status).toBe('succeeded');
    expect(ran()).toEqual(['weekly']);
    expect(resumed.plans[0]!.counts).toEqual({ run: 0, cached: 5, reuse: 0, remove: 1 });
    expect(readFileSync(join(root, 'data/clean/2024-01-06.csv'), 'utf8')).toBe('DAY 2024-01-06\nt=2\n');
    expect(existsSync(join(root, 'data/clean/2024-01-05.csv'))).toBe(false);
  });

  it('dry-run explains without running; force reruns everything', async () => {
    await run();
    ran();
    write('data/raw/2024-01-05.csv', 'edited\n');
    const dry = await run({ dryRun: true });
    expect(ran()).toEqual([]);
    const [clean, weekly] = dry.plans;
    expect(clean!.counts).toEqual({ run: 1, cached: 0, reuse: 4, remove: 0 });
    const w = weekly!.datums[0]!;
    expect(w.action === 'run' && w.reasons.map(describeReason)).toEqual(['dep data/clean (stage clean) runs first']);
    await run({ force: true, stages: ['clean'] });
    expect(ran()).toHaveLength(5);
  });

  it('backfills a key range in order, even when cached', async () => {
    await run();
    ran();
    const r = await run({ stages: ['clean'], backfill: '2024-01-02..2024-01-04', order: 'newest' });
    expect(ran()).toEqual(['clean 2024-01-04', 'clean 2024-01-03', 'clean 2024-01-02']);
    expect(r.plans.map((p) => p.stage)).toEqual(['clean']);
    await expect(run({ stages: ['weekly'], backfill: '1..2' })).rejects.toThrow('--backfill: stage weekly has no partition pattern in dv.yaml');
  });

  it('commits to another branch only, and reuses the run-cache across branches', async () => {
    const first = repo.headCommit()!;
    const r = await run({ branch: 'staging' });
    expect(ran()).toHaveLength(6);
    expect(repo.headCommit()).toBe(first);
    expect(repo.refs.get('heads/staging')).toBe(r.commit);
    // 'other' starts before any run: no state, yet every datum is a run-cache hit.
    await createBranch(repo, 'other', first);
    const o = await run({ branch: 'other' });
    expect(ran()).toEqual([]);
    expect(o.plans.map((p) => p.counts.cached)).toEqual([5, 1]);
    expect(repo.refs.get('heads/other')).toBe(o.commit);
  });

  it('lists runs and traces lineage back to the source', async () => {
    const r = await run();
    const runs = await listRuns(repo);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ id: r.runId, status: 'succeeded', commit: r.commit, counts: { run: 6, cached: 0, reused: 0, removed: 0, failed: 0 } });
    const shown = await showRun(repo, r.runId!);
    expect(shown.logs['clean:data/raw/2024-01-01.csv']).toContain('cleaning 2024-01-01');
    expect(shown.record.stages[0]!.datums[0]).toMatchObject({ status: 'succeeded', exitCode: 0, attempts: 1 });
    // Each datum that ran says when it started: within the run, for the console's timeline.
    for (const d of shown.record.stages.flatMap((s) => s.datums)) {
      const t = Date.parse(d.startedAt ?? '');
      expect(t).toBeGreaterThanOrEqual(Date.parse(shown.record.startedAt));
      expect(t).toBeLessThanOrEqual(Date.parse(shown.record.finishedAt));
    }

    const l = await lineage(repo, 'HEAD:data/clean/2024-01-02.csv');
    expect(l).toMatchObject({ kind: 'output', stage: 'clean', datum: 'data/raw/2024-01-02.csv', run: r.runId, matches: true });
    expect(l.cmd).toBe('sh clean.sh data/raw/2024-01-02.csv data/clean/2024-01-02.csv 1');
    expect(l.inputs.map((i) => [i.path, i.kind])).toEqual([['data/raw/2024-01-02.csv', 'source'], ['clean.sh', 'source']]);
    const w = await lineage(repo, 'main:data/weekly.csv');
    expect(w.inputs.map((i) => [i.path, i.kind, i.stage])).toEqual([['aggregate.sh', 'source', undefined], ['data/clean', 'output', 'clean']]);
    await expect(lineage(repo, 'HEAD:data/raw')).rejects.toThrow('data/raw is a directory at HEAD; lineage traces files');
  });

  it('refuses a bad dv.yaml before running anything', async () => {
    write('dv.yaml', DV_YAML.replace('deps: [clean.sh]', 'deps: [clean.sh, data/weekly.csv]'));
    await expect(run()).rejects.toThrow('dv.yaml: stages: dependency cycle: clean -> weekly -> clean');
    write('dv.yaml', DV_YAML.replace('deps: [clean.sh]', 'deps: [clean.sh, helpers.sh]'));
    await expect(run()).rejects.toThrow('dv.yaml: stages.clean.deps[1]: helpers.sh does not exist and no stage outputs it');
    write('dv.yaml', DV_YAML);
    await expect(run({ stages: ['nope'] })).rejects.toThrow("unknown stage 'nope'");
    expect(ran()).toEqual([]);
  });

  it('retries a failing datum and runs datums in parallel', async () => {
    write('dv.yaml', DV_YAML.replace('outs: data/clean/', 'outs: data/clean/\n    retries: 2'));
    write('flaky-2024-01-02', '');
    const events: string[] = [];
    const r = await run({ jobs: 2, onProgress: (e) => { if (e.type === 'retry') events.push(`${e.datum} ${e.attempt}`); } });
    expect(r.status).toBe('succeeded');
    expect(ran().filter((l) => l === 'clean 2024-01-02')).toHaveLength(2);
    expect(events).toEqual(['data/raw/2024-01-02.csv 1']);
    const d = r.record!.stages[0]!.datums.find((x) => x.id === 'data/raw/2024-01-02.csv')!;
    expect(d.attempts).toBe(2);
  });

  it('cancels a run: nothing is committed and the run is recorded', async () => {
    const head = repo.headCommit();
    write('slow', '');
    const ctl = new AbortController();
    const r = await run({ signal: ctl.signal, onProgress: (e) => { if (e.type === 'start') setTimeout(() => ctl.abort(), 50); } });
    expect(r.status).toBe('cancelled');
    expect(repo.headCommit()).toBe(head);
    expect(existsSync(join(root, 'data/clean'))).toBe(false);
    expect((await listRuns(repo))[0]!.status).toBe('cancelled');
  });

  it('takes any Executor without changes to the planner', async () => {
    const local = new LocalExecutor({ root });
    const seen: Job[] = [];
    const executor: Executor = { name: 'recording', run: (job, signal) => { seen.push(job); return local.run(job, signal); } };
    await run({ executor, stages: ['clean'] });
    expect(seen.map((j) => j.datum.id)).toHaveLength(5);
    expect(seen.every((j) => j.stage.name === 'clean' && j.attempt === 1)).toBe(true);
  });
});

// dv gc --prune-runs on real repositories and real shell commands: old runs that no
// reachable commit needs go with their run-cache entries and everything only they
// kept; runs the next `dv run` or `dv lineage` reads stay.
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { register } from '../../src/cli/commands/maintenance.js';
import { lineage, listRuns } from '../../src/pipeline/history.js';
import { PipelineStore } from '../../src/pipeline/records.js';
import { runPipeline, type RunOptions, type RunResult } from '../../src/pipeline/run.js';
import type { RunRecord } from '../../src/pipeline/types.js';
import { gcPruningRuns } from '../../src/pipeline/retention.js';
import { fsck } from '../../src/repo/fsck.js';
import { gc } from '../../src/repo/gc.js';
import { deleteBranch } from '../../src/repo/history.js';
import type { Repo } from '../../src/repo/repo.js';
import { add } from '../../src/repo/snapshot.js';
import { DvError } from '../../src/store/errors.js';
import { BlobType } from '../../src/store/packfile.js';
import { takeRanLog, writeFile } from '../helpers/cli.js';
import { blobRow, countBlobs, RepoFixtures } from '../helpers/repo.js';

const DV_YAML = `
params: { t: 1 }
stages:
  clean:
    foreach: data/raw/*.csv
    cmd: sh clean.sh \${in} \${out} \${t}
    deps: [clean.sh]
    outs: data/clean/
`;

// Every output depends on t, so each run with a new t writes outputs no other run has.
const CLEAN_SH = `name=$(basename "$1" .csv)
echo "clean $name" >> ran.log
echo "cleaning $name with t=$3"
if [ -e "fail-$name" ]; then echo "bad row in $name" >&2; exit 4; fi
tr a-z A-Z < "$1" > "$2"
echo "t=$3" >> "$2"
`;

const LONG_AGO = '2020-01-01T00:00:00.000Z';
const DAY = 86_400_000;

const fx = new RepoFixtures();
afterEach(() => fx.closeAll());

let root: string;
let repo: Repo;

const ran = (): string[] => takeRanLog(root);

const run = async (o: RunOptions = {}): Promise<RunRecord> => {
  const r: RunResult = await runPipeline(repo, { retryBaseDelayMs: 1, ...o });
  ran();
  return r.record!;
};

const datums = (r: RunRecord) => r.stages.flatMap((s) => s.datums);
const outputsOf = (r: RunRecord) => datums(r).filter((d) => d.status === 'succeeded').flatMap((d) => Object.values(d.outputs));
const bucketsOf = (r: RunRecord) => Object.values(r.state ?? {}).flatMap((s) => s.buckets).filter((b): b is string => !!b);
const stored = (id: string) => blobRow(repo, id) !== undefined;
const pipelineBlobCounts = () => [BlobType.RunRecord, BlobType.RunCache, BlobType.Log, BlobType.RunState].map((t) => countBlobs(repo, t));

/**
 * main: kept (a reachable commit), failedThenUsed: old, no commit, but its output of
 * a.csv is in main's state (a run-cache hit of `resumed`), resumed: main's head run,
 * onDeletedBranch and failed: old and needed by nothing, recentFailed: needed by
 * nothing but young. Every run except recentFailed started long ago.
 */
let runs: Record<'main' | 'onDeletedBranch' | 'failedThenUsed' | 'resumed' | 'failed' | 'recentFailed', RunRecord>;

beforeEach(async () => {
  ({ root, repo } = await fx.create('dv-gc-runs-'));
  for (const n of ['a', 'b', 'c']) writeFile(root, `data/raw/${n}.csv`, `rows of ${n}\n`);
  writeFile(root, 'dv.yaml', DV_YAML);
  writeFile(root, 'clean.sh', CLEAN_SH);
  await add(repo, ['data']);

  const main = await run();
  const onDeletedBranch = await run({ branch: 'exp', params: ['t=2'] });
  await deleteBranch(repo, 'exp', true);
  repo.config.reflogExpireDays = 0; // else the reflog keeps the deleted branch's commit (and so its run) 30 days
  repo.saveConfig();
  writeFile(root, 'fail-b', '');
  const failedThenUsed = await run({ params: ['t=3'] });
  unlinkSync(join(root, 'fail-b'));
  const resumed = await run({ params: ['t=3'] });
  writeFile(root, 'fail-b', '');
  const failed = await run({ params: ['t=4'] });
  const recentFailed = await run({ params: ['t=5'] });
  unlinkSync(join(root, 'fail-b'));
  runs = { main, onDeletedBranch, failedThenUsed, resumed, failed, recentFailed };

  expect([main, onDeletedBranch, resumed].map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  expect([failedThenUsed, failed, recentFailed].map((r) => r.status)).toEqual(['failed', 'failed', 'failed']);
  expect(datums(resumed).find((d) => d.id === 'data/raw/a.csv')?.status).toBe('cached');
  expect(outputsOf(failed)).toHaveLength(1); // a.csv ran before b.csv failed

  await listRuns(repo); // index the records, then backdate all but the recent one
  repo.db.prepare('UPDATE pipeline_runs SET started_at = ? WHERE id != ?').run(LONG_AGO, recentFailed.id);
});

describe('dv gc --prune-runs', () => {
  it('drops old runs no reachable commit needs, with their entries and what only they kept', async () => {
    const { onDeletedBranch: gone1, failed: gone2 } = runs;
    const doomedChunks = [...outputsOf(gone1), ...outputsOf(gone2)];
    const logs = [gone1, gone2].flatMap((x) => datums(x).flatMap((d) => (d.log ? [d.log] : [])));
    const doomed = [...doomedChunks, gone1.commit!, ...bucketsOf(gone1), ...logs];
    const kept = [...Object.values(runs).filter((r) => r !== gone1 && r !== gone2).flatMap(outputsOf), runs.main.commit!, ...bucketsOf(runs.resumed)];
    expect(doomedChunks).toHaveLength(4);
    expect(doomed.every(stored)).toBe(true);
    const chunks = countBlobs(repo, BlobType.Chunk);
    const blobs = countBlobs(repo);

    const r = await gcPruningRuns(repo, 30 * DAY);
    expect(r.runsPruned).toBe(2);
    expect(r.cacheEntriesPruned).toBe(4); // one per datum that succeeded in those runs
    expect(r.objectsDeleted).toBe(blobs - countBlobs(repo));
    expect(countBlobs(repo, BlobType.Chunk)).toBe(chunks - doomedChunks.length);
    expect(doomed.filter(stored)).toEqual([]);
    expect(kept.every(stored)).toBe(true);

    // `dv runs` and the run-cache forget the pruned runs; the others still hit.
    expect((await listRuns(repo)).map((s) => s.id).sort()).toEqual(
      [runs.main, runs.failedThenUsed, runs.resumed, runs.recentFailed].map((x) => x.id).sort());
    const store = new PipelineStore(repo);
    expect([...datums(gone1), ...datums(gone2)].filter((d) => d.status === 'succeeded').map((d) => store.hasCache(d.cacheKey)))
      .toEqual([false, false, false, false]);
    expect(datums(runs.recentFailed).filter((d) => d.status === 'succeeded').every((d) => store.hasCache(d.cacheKey))).toBe(true);

    // The head's state is found and reused: nothing runs.
    const again = await runPipeline(repo, { params: ['t=3'] });
    expect(ran()).toEqual([]);
    expect(again.commit).toBeNull();
    expect(again.plans[0]!.counts).toEqual({ run: 0, cached: 0, reuse: 3, remove: 0 });

    // Lineage still finds the producing runs, including the failed run whose output main adopted.
    const a = await lineage(repo, 'HEAD:data/clean/a.csv');
    expect(a).toMatchObject({ kind: 'output', run: runs.failedThenUsed.id, runStartedAt: runs.failedThenUsed.startedAt, matches: true });
    expect(a.cmd).toBe('sh clean.sh data/raw/a.csv data/clean/a.csv 3');
    expect(await lineage(repo, 'HEAD:data/clean/b.csv')).toMatchObject({ run: runs.resumed.id, runStartedAt: runs.resumed.startedAt });

    const check = await fsck(repo);
    expect([check.errors, check.warnings, check.ok]).toEqual([[], [], true]);

    // Nothing left to prune: a second pass deletes nothing.
    expect(await gcPruningRuns(repo, 30 * DAY)).toMatchObject({ runsPruned: 0, cacheEntriesPruned: 0, objectsDeleted: 0 });
  });

  it('keeps every run without the flag, and runs younger than the age with it', async () => {
    const counts = pipelineBlobCounts();
    const r = await gc(repo);
    expect(r).toMatchObject({ runsPruned: 0, cacheEntriesPruned: 0 });
    expect(pipelineBlobCounts()).toEqual(counts);
    expect(outputsOf(runs.onDeletedBranch).every(stored)).toBe(true);
    expect(stored(runs.onDeletedBranch.commit!)).toBe(true);
    expect(await listRuns(repo)).toHaveLength(6);

    // Backdated to 2020: older than 1000 days, younger than 10000.
    expect(await gcPruningRuns(repo, 10_000 * DAY)).toMatchObject({ runsPruned: 0, cacheEntriesPruned: 0 });
    expect(pipelineBlobCounts()).toEqual(counts);
  });

  it('--dry-run reports what would be pruned and changes nothing', async () => {
    const blobs = countBlobs(repo);
    const r = await gcPruningRuns(repo, 30 * DAY, { dryRun: true });
    expect(r).toMatchObject({ dryRun: true, runsPruned: 2, cacheEntriesPruned: 4 });
    expect(r.objectsDeleted).toBeGreaterThan(8);
    expect(countBlobs(repo)).toBe(blobs);
    expect(await listRuns(repo)).toHaveLength(6);
    expect(outputsOf(runs.failed).every(stored)).toBe(true);
    expect(new PipelineStore(repo).hasCache(datums(runs.failed)[0]!.cacheKey)).toBe(true);
  });
});

describe('dv gc --prune-runs (command line, in process)', () => {
  // main.ts turns a CommanderError into one `dv: error:` line and exit 2, a DvError into its exitCode.
  // As `dv -C root`: main.ts changes directory once, before the command runs.
  const program = () => {
    process.chdir(root);
    const p = new Command('dv').exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
    register(p, () => ({ quiet: true }));
    return p;
  };
  const home = process.cwd();
  afterEach(() => process.chdir(home));

  it('refuses a bad age as a one-line usage error, and --remote', async () => {
    const bad = await program().parseAsync(['gc', '--prune-runs', 'soon'], { from: 'user' }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(CommanderError);
    expect((bad as CommanderError).code).toBe('commander.invalidArgument');
    expect((bad as CommanderError).message).toMatch(/^error: option '--prune-runs <age>' argument 'soon' is invalid\. not a duration: 'soon'[^\n]*$/);
    const remote = await program().parseAsync(['gc', '--remote', '--prune-runs', '1d'], { from: 'user' }).catch((e: unknown) => e);
    expect(remote).toBeInstanceOf(DvError);
    expect((remote as DvError).exitCode).toBe(2);
  });

  it('takes weeks and prints the counts in --json', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out.push(String(s)); return true; });
    try {
      await program().parseAsync(['gc', '--prune-runs', '4w', '--json'], { from: 'user' });
    } finally {
      spy.mockRestore();
    }
    expect(JSON.parse(out.join(''))).toMatchObject({ dryRun: false, runsPruned: 2, cacheEntriesPruned: 4 });
  });
});

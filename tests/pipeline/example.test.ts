// The DVC-style example project (examples/dvc-project) as a DVC user walks it, through
// the real CLI: `dv run` on its unmodified dvc.yaml, a 2x2 grid of experiments with
// -j 2, then exp show, metrics diff, params diff, plots, exp apply / branch / remove,
// and the experiments reaching a clone through push (real s3rver on loopback).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, TempDirs, dvJson, dvOk } from '../helpers/cli.js';
import { startS3Server, type S3TestServer } from '../helpers/s3server.js';

const tmp = new TempDirs();
let s3: S3TestServer;
let root: string;

interface ExpResult { name: string; status: string; commit: string | null; overrides: Record<string, number>; runId: string }
interface ExpRow { name: string; kind: string; status: string; params: Record<string, number>; metrics: Record<string, Record<string, number>>; runId: string }

beforeAll(async () => {
  s3 = await startS3Server();
  root = path.join(tmp.make('dv-example-'), 'project');
  fs.cpSync(path.join(REPO_ROOT, 'examples', 'dvc-project'), root, { recursive: true });
});
afterAll(async () => {
  await s3?.stop();
  tmp.cleanup();
});

const read = (p: string): string => fs.readFileSync(path.join(root, p), 'utf8');
const HEAD_METRICS = { mse: 0.037177, r2: 0.884199 };
/** By [train.lr, featurize.degree]. */
const GRID: Record<string, { mse: number; r2: number }> = {
  '0.05,1': { mse: 0.038468, r2: 0.880179 }, '0.05,2': { mse: 0.014758, r2: 0.95403 },
  '0.2,1': { mse: 0.042316, r2: 0.868192 }, '0.2,2': { mse: 0.014376, r2: 0.955221 },
};

describe('the DVC example project', () => {
  let exps: ExpResult[] = [];
  const named = (lr: number, degree: number): ExpResult =>
    exps.find((e) => e.overrides['train.lr'] === lr && e.overrides['featurize.degree'] === degree)!;

  it('runs unmodified from dvc.yaml and then has nothing to do', async () => {
    await dvOk(root, ['init', '-q']);
    await dvOk(root, ['add', 'data', '-q']);
    const r = await dvJson<{ status: string; commit: string }>(root, ['run', '--json']);
    expect(r.status).toBe('succeeded');
    expect(JSON.parse(read('eval/metrics.json'))).toEqual(HEAD_METRICS);
    expect(read('eval/loss.csv').split('\n').slice(0, 3)).toEqual(['epoch,loss', '10,0.199123', '20,0.161520']);
    expect(read('data/prepared/test.csv').split('\n').length).toBe(1 + 15 + 1);
    const again = await dvJson<{ commit: string | null; plans: { counts: { run: number } }[] }>(root, ['run', '--json']);
    expect(again.commit).toBeNull();
    expect(again.plans.map((p) => p.counts.run)).toEqual([0, 0, 0, 0]);
    const st = await dvJson<{ added: string[]; modified: string[] }>(root, ['status', '--json']);
    expect([st.added, st.modified]).toEqual([[], []]);
  });

  it('runs a 2x2 grid of experiments, two at a time, sharing the stages they have in common', async () => {
    exps = await dvJson<ExpResult[]>(root, ['exp', 'run', '-p', 'train.lr=0.05,0.2', '-p', 'featurize.degree=1,2', '-j', '2', '--json']);
    expect(exps.map((e) => [e.overrides['train.lr'], e.overrides['featurize.degree'], e.status])).toEqual([
      [0.05, 1, 'succeeded'], [0.05, 2, 'succeeded'], [0.2, 1, 'succeeded'], [0.2, 2, 'succeeded'],
    ]);
    // The workspace is untouched: params and metrics are HEAD's.
    expect(read('params.yaml')).toBe(fs.readFileSync(path.join(REPO_ROOT, 'examples/dvc-project/params.yaml'), 'utf8'));
    expect(JSON.parse(read('eval/metrics.json'))).toEqual(HEAD_METRICS);
    // prepare never re-ran; featurize at degree 2 ran once for the two experiments that need it.
    const stages: Record<string, { run: number; cached: number }> = {};
    for (const e of exps) {
      const { record } = await dvJson<{ record: { stages: { name: string; counts: { run: number; cached: number } }[] } }>(root, ['runs', 'show', e.runId, '--json']);
      for (const s of record.stages) {
        stages[s.name] ??= { run: 0, cached: 0 };
        stages[s.name]!.run += s.counts.run;
        stages[s.name]!.cached += s.counts.cached;
      }
    }
    expect(stages).toEqual({
      prepare: { run: 0, cached: 0 }, featurize: { run: 1, cached: 1 }, train: { run: 4, cached: 0 }, evaluate: { run: 4, cached: 0 },
    });
  });

  it('shows experiments side by side with HEAD', async () => {
    const rows = await dvJson<ExpRow[]>(root, ['exp', 'show', '--json']);
    expect(rows[0]).toMatchObject({ name: 'HEAD', kind: 'baseline', status: 'succeeded', metrics: { 'eval/metrics.json': HEAD_METRICS } });
    expect(rows[0]!.params).toMatchObject({ 'train.lr': 0.1, 'featurize.degree': 1, 'prepare.seed': 7 });
    const got = Object.fromEntries(rows.slice(1).map((r) => [`${r.params['train.lr']},${r.params['featurize.degree']}`, r.metrics['eval/metrics.json']]));
    expect(got).toEqual(GRID);
    expect(rows.slice(1).every((r) => r.status === 'succeeded' && Object.keys(r.params).length === 2)).toBe(true);
    const text = (await dvOk(root, ['exp', 'show'])).stdout.split('\n');
    expect(text[0]).toMatch(/^Experiment +Created +Status +Run +featurize\.degree +train\.lr +mse +r2$/);
    expect(text.find((l) => l.startsWith(named(0.2, 2).name))).toMatch(/ succeeded +[0-9a-f]{12} +2 +0\.2 +0\.014376 +0\.955221$/);
  });

  it('diffs metrics and params against an experiment', async () => {
    const best = named(0.2, 2).name;
    expect(await dvJson(root, ['metrics', 'diff', 'HEAD', best, '--json'])).toEqual([
      { path: 'eval/metrics.json', metric: 'mse', old: 0.037177, new: 0.014376, change: -0.022801 },
      { path: 'eval/metrics.json', metric: 'r2', old: 0.884199, new: 0.955221, change: 0.071022 },
    ]);
    expect(await dvJson(root, ['params', 'diff', 'HEAD', best, '--json'])).toEqual([
      { param: 'featurize.degree', old: 1, new: 2 }, { param: 'train.lr', old: 0.1, new: 0.2 },
    ]);
    const shown = await dvJson<{ rev: string; metrics: unknown }[]>(root, ['metrics', 'show', 'HEAD', best, '--json']);
    expect(shown.map((m) => [m.rev, m.metrics])).toEqual([
      ['HEAD', { 'eval/metrics.json': HEAD_METRICS }], [best, { 'eval/metrics.json': GRID['0.2,2'] }],
    ]);
  });

  it('writes plots as SVG files and one self-contained HTML page', async () => {
    const out = path.join(root, '..', 'plots');
    await dvOk(root, ['plots', 'diff', 'HEAD', named(0.2, 2).name, '-o', out]);
    expect(fs.readdirSync(out).sort()).toEqual(['eval_loss.csv.svg', 'eval_predictions.csv.svg', 'index.html']);
    const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html).not.toMatch(/<script|src=|href=|@import/);
    const loss = fs.readFileSync(path.join(out, 'eval_loss.csv.svg'), 'utf8');
    expect(loss.match(/<path d="M/g)).toHaveLength(2); // one line per revision
    expect(loss).toContain(`>${named(0.2, 2).name}</text>`);
    expect(loss).toContain('>epoch</text>');
    const pred = fs.readFileSync(path.join(out, 'eval_predictions.csv.svg'), 'utf8');
    expect(pred.match(/<circle /g)).toHaveLength(2 * 15); // 15 test rows, two revisions
  });

  it('applies, branches and removes experiments', async () => {
    const best = named(0.2, 2);
    await dvOk(root, ['exp', 'apply', best.name]);
    expect(read('params.yaml')).toContain('  degree: 2\n');
    expect(read('params.yaml')).toContain('  lr: 0.2\n');
    expect(JSON.parse(read('eval/metrics.json'))).toEqual(GRID['0.2,2']);
    const r = await dvJson<{ commit: string; record: { stages: { counts: { run: number } }[] } }>(root, ['run', '--json']);
    expect(r.record.stages.map((s) => s.counts.run)).toEqual([0, 0, 0, 0]); // all from the run-cache
    expect(await dvJson(root, ['params', 'diff', 'HEAD~1', 'HEAD', '--json'])).toEqual([
      { param: 'featurize.degree', old: 1, new: 2 }, { param: 'train.lr', old: 0.1, new: 0.2 },
    ]);
    await dvOk(root, ['exp', 'branch', named(0.05, 2).name, 'slow-lr']);
    const branches = await dvJson<{ name: string; commit: string }[]>(root, ['branch', '--json']);
    expect(branches.find((b) => b.name === 'slow-lr')?.commit).toBe(named(0.05, 2).commit);
    await dvOk(root, ['exp', 'remove', named(0.05, 1).name]);
    const rows = await dvJson<ExpRow[]>(root, ['exp', 'show', '--all', '--json']);
    expect(rows.map((r) => r.name)).not.toContain(named(0.05, 1).name);
    expect(rows.map((r) => r.name)).toContain(named(0.2, 1).name);
  });

  it('experiments travel with push to a clone', async () => {
    const env = s3.env;
    await dvOk(root, ['remote', 'add', 'origin', `s3://${s3.bucket}/example`, '--endpoint', s3.endpoint], { env });
    await dvOk(root, ['push', '-q'], { env });
    const clone = path.join(root, '..', 'clone');
    await dvOk(path.dirname(clone), ['clone', `s3://${s3.bucket}/example`, clone, '--endpoint', s3.endpoint], { env });
    for (const f of ['dvc.yaml', 'params.yaml', 'src']) fs.cpSync(path.join(root, f), path.join(clone, f), { recursive: true }); // code comes with git
    const rows = await dvJson<ExpRow[]>(clone, ['exp', 'show', '--all', '--json']);
    const names = rows.filter((r) => r.kind === 'experiment').map((r) => r.name).sort();
    expect(names).toEqual([named(0.05, 1), named(0.05, 2), named(0.2, 1), named(0.2, 2)].map((e) => e.name).sort());
    const m = rows.find((r) => r.name === named(0.2, 1).name)!.metrics;
    expect(m).toEqual({ 'eval/metrics.json': GRID['0.2,1'] });
  });
});

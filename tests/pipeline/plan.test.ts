import { describe, expect, it } from 'vitest';
import { applyParamOverrides, parseConfig } from '../../src/pipeline/config.js';
import {
  describeReason, parseBackfill, pathHash, planPipeline, planStage, runCacheKey,
} from '../../src/pipeline/plan.js';
import type { DatumPlan, Params, PipelineConfig, StagePlan, StageState } from '../../src/pipeline/types.js';
import { blake3Hex } from '../../src/store/hash.js';

const CONFIG = `
params: { threshold: 0.5, unrelated: 1 }
stages:
  clean:
    foreach: data/raw/*.csv
    cmd: python3 clean.py \${in} \${out} \${threshold}
    deps: [clean.py]
    outs: data/clean/
    partition: 'data/raw/(?<key>\\d{4}-\\d{2}-\\d{2})'
  weekly:
    cmd: python3 aggregate.py data/clean \${out}
    deps: [aggregate.py, data/clean]
    outs: [data/weekly.csv]
`;

const h = (s: string): string => blake3Hex(s);

type Files = Map<string, string>;

function initialFiles(days: string[]): Files {
  const f: Files = new Map([['clean.py', h('clean v1')], ['aggregate.py', h('agg v1')]]);
  for (const d of days) f.set(`data/raw/${d}.csv`, h(`raw ${d}`));
  return f;
}

/** Plays a stage plan as a runner would: outputs derived from input content (or `produce`). */
function apply(cfg: PipelineConfig, plan: StagePlan, files: Files, prev: StageState | undefined,
  produce: (input: string | null, inputHash: string | null) => string = (i, ih) => h(`out ${i} ${ih}`)): StageState {
  const stage = cfg.stages.get(plan.stage)!;
  const datums = { ...(prev?.datums ?? {}) };
  for (const d of plan.datums) {
    if (d.action === 'remove') {
      d.outputs.forEach((o) => files.delete(o));
      delete datums[d.datumId];
    } else if (d.action === 'run') {
      const outPath = d.datum.out ?? stage.outs[0]!;
      const hash = produce(d.datum.input, d.datum.inputHash);
      files.set(outPath, hash);
      datums[d.datum.id] = {
        inputHash: d.datum.inputHash, deps: d.deps, params: d.params, cmd: d.cmd,
        outputs: { [outPath]: hash }, cacheKey: d.cacheKey, run: 'r',
      };
    }
  }
  // As runStage does: the state carries the plan's fingerprint, so later plans here take
  // the planner's quick path for unchanged datums (every test below checks it agrees).
  return { datums, ...(plan.fp ? { fp: plan.fp } : {}) };
}

function ran(plan: StagePlan): string[] {
  return plan.datums.filter((d) => d.action === 'run').map((d) => (d as { datum: { id: string } }).datum.id);
}

function reasonsOf(plan: StagePlan, id: string): string[] {
  const d = plan.datums.find((x) => x.action === 'run' && x.datum.id === id) as Extract<DatumPlan, { action: 'run' }>;
  return d.reasons.map(describeReason);
}

const DAYS = ['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04', '2024-01-05'];

function setup(): { cfg: PipelineConfig; files: Files; state: StageState; params: Params } {
  const cfg = parseConfig(CONFIG);
  const files = initialFiles(DAYS);
  const params = cfg.params;
  const first = planStage({ stage: cfg.stages.get('clean')!, params, files });
  expect(ran(first)).toHaveLength(5);
  expect(reasonsOf(first, 'data/raw/2024-01-01.csv')).toEqual(['new input']);
  const state = apply(cfg, first, files, undefined);
  return { cfg, files, state, params };
}

describe('planStage', () => {
  it('reuses every datum when nothing changed', () => {
    const { cfg, files, state, params } = setup();
    const p = planStage({ stage: cfg.stages.get('clean')!, params, files, previous: state });
    expect(p.counts).toEqual({ run: 0, cached: 0, reuse: 5, remove: 0 });
  });

  it('runs exactly the added and modified datums and removes deleted ones', () => {
    const { cfg, files, state, params } = setup();
    for (const d of ['2024-02-01', '2024-02-02', '2024-02-03']) files.set(`data/raw/${d}.csv`, h(`raw ${d}`));
    files.set('data/raw/2024-01-02.csv', h('edited'));
    files.delete('data/raw/2024-01-04.csv');
    const p = planStage({ stage: cfg.stages.get('clean')!, params, files, previous: state });
    expect(ran(p)).toEqual(['data/raw/2024-01-02.csv', 'data/raw/2024-02-01.csv', 'data/raw/2024-02-02.csv', 'data/raw/2024-02-03.csv']);
    expect(reasonsOf(p, 'data/raw/2024-01-02.csv')).toEqual(['input changed']);
    expect(reasonsOf(p, 'data/raw/2024-02-01.csv')).toEqual(['new input']);
    expect(p.datums.filter((d) => d.action === 'remove')).toEqual([
      { action: 'remove', datumId: 'data/raw/2024-01-04.csv', outputs: ['data/clean/2024-01-04.csv'] },
    ]);
    expect(p.counts).toEqual({ run: 4, cached: 0, reuse: 3, remove: 1 });
  });

  it('reruns every datum when a dep or a used param changes, not for other params', () => {
    const { cfg, files, state } = setup();
    const stage = cfg.stages.get('clean')!;
    const other = applyParamOverrides(cfg.params, ['unrelated=2']);
    expect(planStage({ stage, params: other, files, previous: state }).counts.run).toBe(0);
    const changed = applyParamOverrides(cfg.params, ['threshold=0.7']);
    const p = planStage({ stage, params: changed, files, previous: state });
    expect(p.counts.run).toBe(5);
    // The param also appears in the command text, so the command changed too.
    expect(reasonsOf(p, 'data/raw/2024-01-01.csv')).toEqual(['param threshold changed', 'command changed']);
    files.set('clean.py', h('clean v2'));
    const q = planStage({ stage, params: cfg.params, files, previous: state });
    expect(q.counts.run).toBe(5);
    expect(reasonsOf(q, 'data/raw/2024-01-03.csv')).toEqual(['dep clean.py changed']);
  });

  it('under the same fingerprint reuses unchanged datums without recomputing their keys; a new fingerprint compares them', () => {
    const { cfg, files, state, params } = setup();
    const stage = cfg.stages.get('clean')!;
    expect(state.fp).toMatch(/^[0-9a-f]{64}$/);
    // A recorded key that no longer matches is only noticed when the datum is compared.
    const id = 'data/raw/2024-01-02.csv';
    const stale: StageState = { ...state, datums: { ...state.datums, [id]: { ...state.datums[id]!, cacheKey: 'stale' } } };
    expect(planStage({ stage, params, files, previous: stale }).counts.run).toBe(0);
    const compared = planStage({ stage, params, files, previous: { datums: stale.datums } });
    expect(ran(compared)).toEqual([id]);
    expect(reasonsOf(compared, id)).toEqual(['stage env or outs changed']);
    expect(compared.fp).toBe(state.fp);
    // Every part of the stage definition is in the fingerprint.
    for (const s of [{ ...stage, env: { X: '1' } }, { ...stage, outs: ['data/cleaner'] }, { ...stage, name: 'other' }]) {
      expect(planStage({ stage: s, params, files, previous: state }).fp).not.toBe(state.fp);
    }
    // Reused unchecked (dv run PATH): the state keeps a fingerprint only if it had this one.
    expect(planStage({ stage, params, files, previous: state, only: ['2024-01-01.csv'] }).fp).toBe(state.fp);
    expect(planStage({ stage, params, files, previous: { datums: state.datums }, only: ['2024-01-01.csv'] }).fp).toBeUndefined();
  });

  it('notices command changes, missing and modified outputs', () => {
    const { cfg, files, state, params } = setup();
    const stage = cfg.stages.get('clean')!;
    const p = planStage({ stage: { ...stage, cmd: stage.cmd + ' --fast' }, params, files, previous: state });
    expect(reasonsOf(p, 'data/raw/2024-01-01.csv')).toEqual(['command changed']);
    files.delete('data/clean/2024-01-03.csv');
    files.set('data/clean/2024-01-05.csv', h('tampered'));
    const q = planStage({ stage, params, files, previous: state });
    expect(ran(q)).toEqual(['data/raw/2024-01-03.csv', 'data/raw/2024-01-05.csv']);
    expect(reasonsOf(q, 'data/raw/2024-01-03.csv')).toEqual(['output data/clean/2024-01-03.csv missing']);
    expect(reasonsOf(q, 'data/raw/2024-01-05.csv')).toEqual(['output data/clean/2024-01-05.csv modified']);
  });

  it('marks run-cache hits unless forced', () => {
    const { cfg, files, params } = setup();
    const stage = cfg.stages.get('clean')!;
    const keys = new Set<string>();
    const all = planStage({ stage, params, files });
    for (const d of all.datums) if (d.action === 'run') keys.add(d.cacheKey);
    const hit = planStage({ stage, params, files, hasCache: (k) => keys.has(k) });
    expect(hit.counts).toEqual({ run: 0, cached: 5, reuse: 0, remove: 0 });
    const forced = planStage({ stage, params, files, hasCache: (k) => keys.has(k), force: true });
    expect(forced.counts).toEqual({ run: 5, cached: 0, reuse: 0, remove: 0 });
    expect(reasonsOf(forced, 'data/raw/2024-01-01.csv')).toEqual(['forced', 'new input']);
  });

  it('cuts off downstream when upstream outputs are byte-identical', () => {
    const { cfg, files, state, params } = setup();
    const weekly = cfg.stages.get('weekly')!;
    const w0 = planStage({ stage: weekly, params, files });
    expect(ran(w0)).toEqual(['']);
    expect(reasonsOf(w0, '')).toEqual(['never run']);
    const wstate = apply(cfg, w0, files, undefined, () => h('weekly v1'));

    // clean.py gets a comment: every clean datum re-runs, producing the same bytes.
    files.set('clean.py', h('clean v1 + comment'));
    const c1 = planStage({ stage: cfg.stages.get('clean')!, params, files, previous: state });
    expect(c1.counts.run).toBe(5);
    const state2 = apply(cfg, c1, files, state);
    expect(planStage({ stage: weekly, params, files, previous: wstate }).counts).toEqual({ run: 0, cached: 0, reuse: 1, remove: 0 });

    // A real change in one output flows on.
    files.set('data/raw/2024-01-01.csv', h('new content'));
    const c2 = planStage({ stage: cfg.stages.get('clean')!, params, files, previous: state2 });
    expect(ran(c2)).toEqual(['data/raw/2024-01-01.csv']);
    apply(cfg, c2, files, state2);
    const w2 = planStage({ stage: weekly, params, files, previous: wstate });
    expect(reasonsOf(w2, '')).toEqual(['dep data/clean changed']);
  });

  it('backfills only datums in the partition range, in the asked order, even if cached', () => {
    const { cfg, files, state, params } = setup();
    const stage = cfg.stages.get('clean')!;
    const keys = new Set(Object.values(state.datums).map((d) => d.cacheKey));
    const newest = planStage({ stage, params, files, previous: state, hasCache: (k) => keys.has(k), backfill: parseBackfill('2024-01-02..2024-01-04', 'newest') });
    expect(ran(newest)).toEqual(['data/raw/2024-01-04.csv', 'data/raw/2024-01-03.csv', 'data/raw/2024-01-02.csv']);
    expect(reasonsOf(newest, 'data/raw/2024-01-03.csv')).toEqual(['backfill (key 2024-01-03)']);
    expect(newest.counts).toEqual({ run: 3, cached: 0, reuse: 2, remove: 0 });
    const oldest = planStage({ stage, params, files, previous: state, backfill: parseBackfill('2024-01-04..', 'oldest') });
    expect(ran(oldest)).toEqual(['data/raw/2024-01-04.csv', 'data/raw/2024-01-05.csv']);
    // Backfill leaves deleted inputs alone: removals belong to a normal run.
    files.delete('data/raw/2024-01-01.csv');
    expect(planStage({ stage, params, files, previous: state, backfill: parseBackfill('2024-01-05..2024-01-05') }).counts.remove).toBe(0);
    expect(() => planStage({ stage: cfg.stages.get('weekly')!, params, files, backfill: parseBackfill('a..b') }))
      .toThrow('stage weekly: --backfill needs a partition pattern in dv.yaml');
  });

  it('parses backfill ranges', () => {
    expect(parseBackfill('2024-01-01..2024-01-31', 'newest')).toEqual({ from: '2024-01-01', to: '2024-01-31', order: 'newest' });
    expect(() => parseBackfill('b..a')).toThrow('--backfill b..a: b sorts after a');
    expect(() => parseBackfill('20240301')).toThrow('--backfill 20240301: expected FROM..TO (20240301..20240301 for that key alone, 20240301.. from it on)');
    expect(() => parseBackfill('a..b', 'sideways')).toThrow('--order sideways: expected newest or oldest');
  });
});

describe('planPipeline (dry run)', () => {
  it('marks downstream datums whose inputs an upstream stage will rewrite', () => {
    const { cfg, files, state, params } = setup();
    const w0 = planStage({ stage: cfg.stages.get('weekly')!, params, files });
    const wstate = apply(cfg, w0, files, undefined);
    files.set('data/raw/2024-01-05.csv', h('changed'));
    const plans = planPipeline({
      stages: [cfg.stages.get('clean')!, cfg.stages.get('weekly')!], params, files,
      state: { clean: state, weekly: wstate },
    });
    expect(ran(plans[0]!)).toEqual(['data/raw/2024-01-05.csv']);
    expect(reasonsOf(plans[1]!, '')).toEqual(['dep data/clean (stage clean) runs first']);
  });
});

describe('run-cache key', () => {
  const base = { cmd: 'c', env: {}, input: 'a', inputHash: 'h', deps: { x: '1', y: '2' }, params: { t: 1 }, outs: ['o'] };
  it('is canonical and covers every part', () => {
    expect(runCacheKey(base)).toBe(runCacheKey({ ...base, deps: { y: '2', x: '1' } }));
    expect(runCacheKey(base)).toMatch(/^[0-9a-f]{64}$/);
    const variants = [
      { cmd: 'd' }, { env: { A: '1' } }, { input: 'b' }, { inputHash: 'i' }, { deps: { x: '1', y: '3' } },
      { params: { t: 2 } }, { params: { t: '1' } }, { outs: ['p'] },
    ];
    const keys = new Set(variants.map((v) => runCacheKey({ ...base, ...v })));
    expect(keys.size).toBe(variants.length);
    expect(keys.has(runCacheKey(base))).toBe(false);
  });

  it('hashes directories from their files', () => {
    const files = new Map([['d/a', '1'], ['d/b/c', '2'], ['e', '3'], ['d.txt', '4']]);
    expect(pathHash(files, 'e')).toBe('3');
    expect(pathHash(files, 'd')).toBe(blake3Hex(JSON.stringify([['a', '1'], ['b/c', '2']])));
    expect(pathHash(files, 'nope')).toBe('');
  });
});

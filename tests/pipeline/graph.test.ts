import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dag } from '../../src/pipeline/history.js';
import { parseConfig } from '../../src/pipeline/config.js';
import { buildGraph, downstreamOf, findCycle, renderDag, selectStages, topoOrder } from '../../src/pipeline/graph.js';
import type { StageConfig } from '../../src/pipeline/types.js';

// Listed out of order on purpose: file order must not decide dependencies.
const YAML_TEXT = `
stages:
  report:
    cmd: make-report \${deps}
    deps: [data/weekly.csv, data/stats.json]
    outs: [report.html]
  weekly:
    cmd: aggregate data/clean \${out}
    deps: [aggregate.py, data/clean]
    outs: [data/weekly.csv]
  clean:
    foreach: data/raw/*.csv
    cmd: clean \${in} \${out}
    outs: data/clean/
  stats:
    foreach: "data/clean/*.csv"
    cmd: stats \${in} \${out}
    outs: data/stats/
  summary:
    cmd: summarize data/stats > \${out}
    deps: [data/stats]
    outs: [data/stats.json]
  lint:
    cmd: lint
    after: [clean]
`;

function load(): Map<string, StageConfig> {
  return parseConfig(YAML_TEXT).stages;
}

describe('stage graph', () => {
  it('links stages through files, globs and after', () => {
    const g = buildGraph(load());
    expect(g.edges.get('clean')!.get('weekly')).toEqual(['data/clean']);
    expect(g.edges.get('clean')!.get('stats')).toEqual(['data/clean/*.csv']);
    expect(g.edges.get('clean')!.get('lint')).toEqual(['after']);
    expect(g.upstream.get('report')).toEqual(['weekly', 'summary']);
    expect(g.upstream.get('clean')).toEqual([]);
  });

  it('orders upstream first, ties in file order', () => {
    const g = buildGraph(load());
    expect(topoOrder(g)).toEqual(['clean', 'weekly', 'stats', 'summary', 'report', 'lint']);
  });

  it('selects a target and what it depends on', () => {
    const g = buildGraph(load());
    expect(selectStages(g, ['weekly'])).toEqual(['clean', 'weekly']);
    expect(selectStages(g, ['summary', 'lint'])).toEqual(['clean', 'stats', 'summary', 'lint']);
    expect(selectStages(g, [])).toHaveLength(6);
    expect(() => selectStages(g, ['nope'])).toThrow("unknown stage 'nope' (stages: report, weekly, clean, stats, summary, lint)");
    expect(downstreamOf(g, ['stats'])).toEqual(['summary', 'report']);
  });

  it('finds cycles', () => {
    const stages = load();
    const clean = stages.get('clean')!;
    stages.set('clean', { ...clean, deps: ['report.html'] });
    const g = buildGraph(stages);
    expect(findCycle(g)).toEqual(['report', 'clean', 'weekly', 'report']);
    expect(() => topoOrder(g)).toThrow('dependency cycle: report -> clean -> weekly -> report');
  });

  it('renders the dag deterministically', () => {
    const stages = load();
    const g = buildGraph(stages);
    expect(renderDag(stages, g)).toBe([
      'clean  [foreach data/raw/*.csv]  -> data/clean',
      '├──▶ weekly  -> data/weekly.csv  (via data/clean)',
      '│    └──▶ report  -> report.html  (via data/weekly.csv)',
      '├──▶ stats  [foreach data/clean/*.csv]  -> data/stats  (via data/clean/*.csv)',
      '│    └──▶ summary  -> data/stats.json  (via data/stats)',
      '│         └──▶ report  (see above)  (via data/stats.json)',
      '└──▶ lint  (via after)',
      '',
    ].join('\n'));
    expect(renderDag(stages, g, { ascii: true })).toContain('`--> lint  (via after)');
    expect(renderDag(new Map(), buildGraph(new Map()))).toBe('(no stages)\n');
  });

  it('dag() reads dv.yaml and returns text and data', () => {
    const root = mkdtempSync(join(tmpdir(), 'dv-dag-'));
    try {
      writeFileSync(join(root, 'dv.yaml'), 'stages:\n  a: { cmd: x, outs: [a.out] }\n  b: { cmd: y, deps: [a.out], outs: [b.out] }\n');
      const d = dag(root, { ascii: true });
      expect(d.order).toEqual(['a', 'b']);
      expect(d.stages[1]).toEqual({ name: 'b', foreach: null, deps: ['a.out'], outs: ['b.out'], upstream: ['a'] });
      expect(d.text).toBe('a  -> a.out\n`--> b  -> b.out  (via a.out)\n');
      writeFileSync(join(root, 'dv.yaml'), 'stages:\n  a: { cmd: x, deps: [nope] }\n');
      expect(() => dag(root)).toThrow('dv.yaml: stages.a.deps: nope does not exist and no stage outputs it');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

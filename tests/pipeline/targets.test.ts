// Partitions as targets: `dv run PATH` (or a glob) materialises exactly the datums that
// produce it and what they read upstream, nothing else; deps come up to date whole.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Repo } from '../../src/repo/repo.js';
import { add } from '../../src/repo/snapshot.js';
import { runPipeline } from '../../src/pipeline/run.js';
import { Project } from '../helpers/project.js';
import { dv, takeRanLog } from '../helpers/cli.js';

let project: Project;
let root: string;
let repo: Repo;
const write = (p: string, t: string | Buffer): void => project.write(p, t);

beforeEach(async () => {
  project = new Project('dv-targets-');
  ({ root, repo } = project);
  for (const d of ['2024-01-01', '2024-01-02', '2024-01-03']) write(`data/raw/${d}.csv`, `day ${d}\n`);
  write('lookup.txt', 'L\n');
  write('dv.yaml', `
stages:
  clean:
    foreach: data/raw/*.csv
    cmd: echo "clean \${name}" >> ran.log && tr a-z A-Z < \${in} > \${out}
    outs: data/clean/
  table:
    cmd: echo table >> ran.log && cp lookup.txt \${out}
    deps: [lookup.txt]
    outs: [data/table.txt]
  enrich:
    foreach: data/clean/*.csv
    cmd: echo "enrich \${name}" >> ran.log && cat \${in} data/table.txt > \${out}
    deps: [data/table.txt]
    outs: data/enriched/
  weekly:
    cmd: echo weekly >> ran.log && cat data/enriched/*.csv > \${out}
    deps: [data/enriched]
    outs: [data/weekly.csv]
`);
  await add(repo, ['data']);
});
afterEach(() => project.close());

describe('dv run PATH', () => {
  it('runs only the datums behind one output, and their upstream datums', async () => {
    const r = await runPipeline(repo, { stages: ['data/enriched/2024-01-03.csv'] });
    expect(r.error).toBeNull();
    expect(takeRanLog(root).sort()).toEqual(['clean 2024-01-03.csv', 'enrich 2024-01-03.csv', 'table']);
    expect(readFileSync(join(root, 'data/enriched/2024-01-03.csv'), 'utf8')).toBe('DAY 2024-01-03\nL\n');
    expect(existsSync(join(root, 'data/enriched/2024-01-01.csv'))).toBe(false);
    expect(existsSync(join(root, 'data/weekly.csv'))).toBe(false);
    expect(r.plans.map((p) => [p.stage, p.counts.run])).toEqual([['clean', 1], ['table', 1], ['enrich', 1]]);
    // A glob of outputs; what already ran is up to date.
    await runPipeline(repo, { stages: ['data/enriched/2024-01-0[12].csv'] });
    expect(takeRanLog(root).sort()).toEqual(['clean 2024-01-01.csv', 'clean 2024-01-02.csv', 'enrich 2024-01-01.csv', 'enrich 2024-01-02.csv']);
    // A whole output: everything it needs.
    await runPipeline(repo, { stages: ['data/weekly.csv'] });
    expect(takeRanLog(root)).toEqual(['weekly']);
  });

  it('a path no stage writes is a usage error', async () => {
    const r = await dv(root, ['run', 'data/nothing.csv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('dv: error: data/nothing.csv: not a stage, nor an output of one\n');
  });
});

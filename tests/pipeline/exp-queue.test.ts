// Experiments of a native dv.yaml project (params passed as overrides, no params file
// edited), queued with --queue and run with --run-all; unknown params are refused.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { add } from '../../src/repo/snapshot.js';
import { expRun, expRunQueued, readQueue } from '../../src/pipeline/experiments.js';
import { expShow } from '../../src/pipeline/exp-views.js';
import { metricsDiff } from '../../src/pipeline/metrics.js';
import { runPipeline } from '../../src/pipeline/run.js';
import { Project } from '../helpers/project.js';

let project: Project;

beforeEach(async () => {
  project = new Project('dv-expq-');
  project.write('data/n.txt', '5\n');
  project.write('dv.yaml', `
params: { scale: 2, offset: 0 }
stages:
  score:
    cmd: 'echo "{\\"score\\": $(( $(cat data/n.txt) * \${scale} + \${offset} ))}" > \${out}'
    deps: [data/n.txt]
    metrics:
      - out/score.json: { cache: false }
`);
  await add(project.repo, ['data']);
  await runPipeline(project.repo);
});
afterEach(() => project.close());

describe('dv exp run --queue / --run-all', () => {
  it('queues a grid, runs it later, and shows each with its metrics', async () => {
    const queued = await expRun(project.repo, { params: ['scale=3,4'], queue: true });
    expect(queued.map((q) => [q.overrides, q.status])).toEqual([[{ scale: 3 }, 'queued'], [{ scale: 4 }, 'queued']]);
    expect(readQueue(project.repo)).toHaveLength(2);
    const ran = await expRunQueued(project.repo, { jobs: 2 });
    expect(ran.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    expect(readQueue(project.repo)).toEqual([]);
    // The workspace keeps HEAD's result.
    expect(JSON.parse(readFileSync(join(project.root, 'out/score.json'), 'utf8'))).toEqual({ score: 10 });
    const rows = await expShow(project.repo);
    expect(rows[0]).toMatchObject({ name: 'HEAD', kind: 'baseline', metrics: { 'out/score.json': { score: 10 } } });
    expect(rows.slice(1).map((r) => [r.params.scale, r.metrics['out/score.json']?.score]).sort()).toEqual([[3, 15], [4, 20]]);
    expect(await metricsDiff(project.repo, 'HEAD', ran[1]!.name)).toEqual([
      { path: 'out/score.json', metric: 'score', old: 10, new: 20, change: 10 },
    ]);
  });

  it('refuses a param the pipeline does not have, and a name for a grid', async () => {
    await expect(expRun(project.repo, { params: ['nope=1'] })).rejects.toThrow('-p nope: unknown param (params: scale, offset)');
    await expect(expRun(project.repo, { params: ['scale=1,2'], name: 'x' })).rejects.toThrow('--name x: names one experiment, the grid has 2');
  });
});

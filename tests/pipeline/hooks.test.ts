// Hooks per stage and per run: they see DV_* variables for the run id, status and
// counts; a failing hook is reported (record and CLI warning) and never changes the status.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Repo } from '../../src/repo/repo.js';
import { add } from '../../src/repo/snapshot.js';
import { runPipeline } from '../../src/pipeline/run.js';
import { Project } from '../helpers/project.js';
import { dv } from '../helpers/cli.js';

let project: Project;
let root: string;
let repo: Repo;
const write = (p: string, t: string | Buffer): void => project.write(p, t);

beforeEach(async () => {
  project = new Project('dv-hooks-');
  ({ root, repo } = project);
  for (const d of ['a', 'b']) write(`data/raw/${d}.csv`, `${d}\n`);
  write('dv.yaml', `
hooks:
  on_success: echo "run $DV_STATUS $DV_COUNT_RUN" >> hooks.log
  on_failure: echo "run $DV_STATUS failed=$DV_COUNT_FAILED" >> hooks.log; exit 9
stages:
  copy:
    foreach: data/raw/*.csv
    cmd: if [ -e fail-\${stem} ]; then exit 3; fi; cp \${in} \${out}
    outs: data/out/
    hooks:
      on_success: echo "stage $DV_STAGE ok run=$DV_COUNT_RUN id=$DV_RUN_ID" >> hooks.log
      on_failure: echo "stage $DV_STAGE $DV_STATUS" >> hooks.log
`);
  await add(repo, ['data']);
});
afterEach(() => project.close());

describe('hooks', () => {
  it('run on success and on failure with DV_* variables; a failing hook leaves the status alone', async () => {
    const ok = await runPipeline(repo);
    expect(ok.status).toBe('succeeded');
    expect(readFileSync(join(root, 'hooks.log'), 'utf8')).toBe(`stage copy ok run=2 id=${ok.runId}\nrun succeeded 2\n`);
    expect(ok.record!.hooks!.map((h) => [h.stage, h.event, h.exitCode])).toEqual([['copy', 'on_success', 0], [null, 'on_success', 0]]);
    rmSync(join(root, 'hooks.log'));
    write('data/raw/b.csv', 'b2\n');
    write('fail-b', '');
    const r = await dv(root, ['run']);
    expect(r.code).toBe(1);
    expect(readFileSync(join(root, 'hooks.log'), 'utf8')).toBe('stage copy failed\nrun failed failed=1\n');
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe("dv: warning: hook on_failure exited with status 9 (the run's status stands)");
    expect(lines[1]).toMatch(/^dv: error: run [0-9a-f]+ failed: stage copy: datum data\/raw\/b\.csv: exited with status 3/);
  });
});

// exp run, exp show, exp apply, exp branch, exp remove
import type { Command } from 'commander';
import { collect, jobsArg } from '../args.js';
import { withRepo, type GlobalOptions } from '../context.js';
import { runHeapPolicy } from '../heap.js';
import { printJson, println, shortId } from '../output.js';
import { table, type Cell } from './table.js';

export function register(program: Command, g: () => GlobalOptions): void {
  const exp = program.command('exp').description('experiments: runs of the pipeline with other params, side by side');

  exp.command('run')
    .description('run one experiment per combination of -p values (a grid), each on its own hidden ref based on HEAD')
    .option('-p, --param <key=v1,v2>', 'a param and the values to try (repeatable)', collect, [])
    .option('-n, --name <name>', 'name of the experiment (one combination only)')
    .option('--queue', 'queue the experiments instead of running them')
    .option('--run-all', 'run the queued experiments')
    .option('-j, --jobs <n>', 'experiments to run at once', jobsArg, 1)
    .option('--json', 'print JSON')
    .action((o) => withRepo(g(), async (repo) => {
      runHeapPolicy();
      const { expRun, expRunQueued } = await import('../../pipeline/experiments.js');
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        const results = o.runAll ? await expRunQueued(repo, { jobs: o.jobs, signal: ac.signal })
          : await expRun(repo, { params: o.param, name: o.name, queue: o.queue, jobs: o.jobs, signal: ac.signal });
        if (o.json) { printJson(results); return; }
        for (const r of results) {
          const set = Object.entries(r.overrides).map(([k, v]) => `${k}=${v}`).join(' ');
          // Labelled: the run id is what dv exp show's Run column and dv runs show take.
          const ids = [r.runId && `run ${shortId(r.runId)}`, r.commit && `commit ${shortId(r.commit)}`].filter(Boolean).join('  ');
          println([r.name, r.status, ids, set].filter(Boolean).join('  ') + (r.error ? `  (${r.error})` : ''));
        }
        const bad = results.filter((r) => r.status === 'failed' || r.status === 'cancelled');
        if (bad.length) process.exitCode = 1;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    }));

  exp.command('show')
    .description('experiments of HEAD side by side with it: params they set, metrics, status, created, run')
    .option('-A, --all', 'experiments of every baseline')
    .option('--json', 'print JSON')
    .action((o) => withRepo(g(), async (repo) => {
      const { expShow } = await import('../../pipeline/exp-views.js');
      const rows = await expShow(repo, { all: o.all });
      if (o.json) { printJson(rows); return; }
      const params = [...new Set(rows.filter((r) => r.kind === 'experiment').flatMap((r) => Object.keys(r.params)))].sort();
      const files = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))].sort();
      const metrics = files.flatMap((f) => [...new Set(rows.flatMap((r) => Object.keys(r.metrics[f] ?? {})))].sort().map((m) => [f, m] as const));
      const label = (f: string, m: string): string => (files.length > 1 ? `${f}:${m}` : m);
      const body: Cell[][] = rows.map((r) => [
        r.name, r.created ? r.created.slice(0, 19).replace('T', ' ') : null, r.status, r.runId ? shortId(r.runId) : null,
        ...params.map((p) => r.params[p]), ...metrics.map(([f, m]) => r.metrics[f]?.[m]),
      ]);
      println(table(['Experiment', 'Created', 'Status', 'Run', ...params, ...metrics.map(([f, m]) => label(f, m))], body));
    }));

  exp.command('apply')
    .description("put an experiment's outputs and params in the workspace (HEAD does not move; dv run then commits them)")
    .argument('<name>')
    .option('-f, --force', 'overwrite uncommitted changes')
    .action((name: string, o) => withRepo(g(), async (repo) => {
      const { expApply } = await import('../../pipeline/exp-views.js');
      const r = await expApply(repo, name, { force: o.force });
      if (!g().quiet) println(`applied ${r.name} (${shortId(r.commit)}): ${r.written.length} file(s) written`);
    }));

  exp.command('branch')
    .description("a branch at an experiment's commit")
    .argument('<name>').argument('<branch>')
    .action((name: string, branch: string) => withRepo(g(), async (repo) => {
      const { expBranch } = await import('../../pipeline/exp-views.js');
      const r = await expBranch(repo, name, branch);
      if (!g().quiet) println(`branch ${r.branch} at ${shortId(r.commit)}`);
    }));

  exp.command('remove')
    .description('forget experiments (their run records stay, like other runs)')
    .argument('<names...>')
    .action((names: string[]) => withRepo(g(), async (repo) => {
      const { expRemove } = await import('../../pipeline/exp-views.js');
      const gone = await expRemove(repo, names);
      if (!g().quiet) for (const n of gone) println(`removed ${n}`);
    }));
}

// metrics show, metrics diff, params diff
import type { Command } from 'commander';
import { intArg } from '../args.js';
import { withRepo, type GlobalOptions } from '../context.js';
import { printJson, println } from '../output.js';
import { table, type Cell } from './table.js';

export function register(program: Command, g: () => GlobalOptions): void {
  const metrics = program.command('metrics').description('metrics files of the pipeline, per revision');

  metrics.command('show')
    .description('metrics of the workspace, or of the named revisions')
    .argument('[refs...]')
    .option('-a, --all-branches', 'every branch')
    .option('-T, --all-tags', 'every tag')
    .option('-n, --num <n>', 'also the N-1 ancestors of each revision', intArg(1))
    .option('--json', 'print JSON')
    .action((refs: string[], o) => withRepo(g(), async (repo) => {
      const { metricsShow } = await import('../../pipeline/metrics.js');
      const list = await metricsShow(repo, refs, { allBranches: o.allBranches, allTags: o.allTags, n: o.num });
      if (o.json) { printJson(list); return; }
      const names = [...new Set(list.flatMap((m) => Object.values(m.metrics).flatMap((x) => Object.keys(x))))].sort();
      const rows: Cell[][] = [];
      for (const m of list) {
        for (const [file, values] of Object.entries(m.metrics)) rows.push([m.rev, file, ...names.map((n) => values[n])]);
        for (const [file, e] of Object.entries(m.errors)) rows.push([m.rev, file, `(${e})`]);
      }
      println(table(['Revision', 'Path', ...names], rows));
    }));

  metrics.command('diff')
    .description('metrics that differ between A (default HEAD) and B (default the workspace)')
    .argument('[a]').argument('[b]')
    .option('--all', 'unchanged metrics too')
    .option('--json', 'print JSON')
    .action((a: string | undefined, b: string | undefined, o) => withRepo(g(), async (repo) => {
      const { metricsDiff } = await import('../../pipeline/metrics.js');
      const d = await metricsDiff(repo, a, b, { all: o.all });
      if (o.json) { printJson(d); return; }
      println(table(['Path', 'Metric', a ?? 'HEAD', b ?? 'workspace', 'Change'], d.map((c) => [c.path, c.metric, c.old, c.new, c.change])));
    }));

  program.command('params').description('params of the pipeline, per revision')
    .command('diff')
    .description('params that differ between A (default HEAD) and B (default the workspace), from what each run recorded')
    .argument('[a]').argument('[b]')
    .option('--all', 'unchanged params too')
    .option('--json', 'print JSON')
    .action((a: string | undefined, b: string | undefined, o) => withRepo(g(), async (repo) => {
      const { paramsDiff } = await import('../../pipeline/metrics.js');
      const d = await paramsDiff(repo, a, b, { all: o.all });
      if (o.json) { printJson(d); return; }
      println(table(['Param', a ?? 'HEAD', b ?? 'workspace'], d.map((c) => [c.param, c.old, c.new])));
    }));
}

export function registerPlots(program: Command, g: () => GlobalOptions): void {
  const plots = program.command('plots').description('plots of the pipeline as SVG files and one self-contained HTML page');
  for (const which of ['show', 'diff'] as const) {
    plots.command(which)
      .description(which === 'show' ? 'plots of the workspace, or of the named revisions' : 'plots of A (default HEAD) and B (default the workspace) overlaid')
      .argument('[refs...]')
      .requiredOption('-o, --out <dir>', 'directory for index.html and the SVG files')
      .option('--json', 'print JSON')
      .action((refs: string[], o) => withRepo(g(), async (repo) => {
        const { plotsShow, plotsDiff } = await import('../../pipeline/plots.js');
        const r = await (which === 'show' ? plotsShow : plotsDiff)(repo, refs, o.out);
        if (o.json) { printJson(r); return; }
        if (!g().quiet) println(`${r.html} (${r.plots.length} plot(s): ${r.plots.map((p) => p.svg).join(', ')})`);
      }));
  }
}

// run, dag, runs, lineage
import type { Command } from 'commander';
import type { RunEvent } from '../../pipeline/run.js';
import type { LineageNode } from '../../pipeline/history.js';
import type { StagePlan } from '../../pipeline/types.js';
import { DvError } from '../../store/errors.js';
import { collect, intArg } from '../args.js';
import { withRepo, type GlobalOptions } from '../context.js';
import { runHeapPolicy } from '../heap.js';
import { printJson, println, shortId } from '../output.js';
import { register as registerExp } from './exp.js';
import { register as registerMetrics, registerPlots } from './metrics.js';

const positive = intArg(1);

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

function printPlans(plans: StagePlan[], describe: (r: never) => string): void {
  for (const p of plans) {
    const c = p.counts;
    println(`stage ${p.stage}: ${c.run} to run, ${c.cached} from run-cache, ${c.reuse} up to date, ${c.remove} to remove`);
    for (const d of p.datums) {
      if (d.action === 'run') println(`  ${d.cached ? 'cached' : 'run   '} ${d.datum.id}: ${d.reasons.map((r) => describe(r as never)).join(', ')}`);
      else if (d.action === 'remove') println(`  remove ${d.datumId}: input deleted`);
    }
  }
}

function printLineage(n: LineageNode, indent = ''): void {
  const what = n.kind === 'source' ? 'source data'
    : `stage ${n.stage}${n.datum ? ` (datum ${n.datum})` : ''}${n.run ? `, run ${shortId(n.run)}` : ''}`;
  const code = n.git ? `, code git ${n.git.commit.slice(0, 12)}${n.git.dirty ? ' (dirty)' : ''}` : '';
  const stale = n.matches === false ? ' [edited after the run]' : '';
  println(`${indent}${n.path} ${n.hash ? n.hash.slice(0, 12) : ''} <- ${what}${code}${stale}`);
  if (n.cmd) println(`${indent}    $ ${n.cmd}`);
  for (const i of n.inputs) printLineage(i, indent + '  ');
}

export function register(program: Command, g: () => GlobalOptions): void {
  registerMetrics(program, g);
  registerPlots(program, g);
  registerExp(program, g);
  program.command('run')
    .description('run stages of dv.yaml (and what they depend on), only where inputs changed')
    .argument('[stages...]')
    .option('-f, --force', 'ignore the run-cache and up-to-date checks')
    .option('-n, --dry-run', 'print what would run and why, run nothing')
    .option('-j, --jobs <n>', 'datums to run in parallel', positive, 1)
    .option('-p, --param <key=value>', 'override a param for this run (repeatable)', collect, [])
    .option('-b, --branch <name>', 'commit outputs to this branch instead of the checked-out one')
    .option('--backfill <from..to>', 're-process datums whose partition key lies in the range')
    .option('--order <newest|oldest>', 'backfill order', 'oldest')
    .option('-k, --keep-going', 'keep running other datums after one failed')
    .option('-m, --message <msg>', 'commit message')
    .option('--isolation <local|sandbox>', 'run every stage so (sandbox: bubblewrap), whatever dv.yaml says')
    .option('--json', 'print the run result as JSON')
    .option('--executor <local|slurm|kubernetes>', "run every stage's datums there (default: each stage's executor key)")
    .option('--data-endpoint <url>', 'data: s3 jobs go through the dv serve --remote at URL/BUCKET instead of an in-process one')
    .option('--data-remote <name>', 'the remote that --data-endpoint serves (default: the default remote)')
    .action((stages: string[], o) => withRepo(g(), async (repo, progress) => {
      if (o.executor !== undefined && !['local', 'slurm', 'kubernetes'].includes(o.executor)) {
        throw new DvError(`--executor must be local, slurm or kubernetes, got '${o.executor}'`, 2);
      }
      runHeapPolicy();
      const { runPipeline } = await import('../../pipeline/run.js');
      if (o.isolation !== undefined && o.isolation !== 'local' && o.isolation !== 'sandbox') throw new DvError(`--isolation must be local or sandbox, got '${o.isolation}'`, 2);
      // Jobs with S3 access reach an in-process dv serve on loopback (started on first need).
      const jobEndpoint = async (r: typeof repo) => (await import('../../s3proxy/job-endpoint.js')).startRunEndpoint(r,
        { host: process.env.DV_JOB_HOST || undefined, port: Number(process.env.DV_JOB_PORT) || 0, url: process.env.DV_JOB_URL || undefined });
      let dataEndpoint;
      if (o.dataEndpoint !== undefined) {
        const m = /^(https?:\/\/[^/]+)\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/?$/.exec(o.dataEndpoint);
        if (!m) throw new DvError(`--data-endpoint must be http(s)://HOST[:PORT]/BUCKET, got '${o.dataEndpoint}'`, 2);
        const { resolveRemote } = await import('../../repo/remote/config.js');
        dataEndpoint = { url: m[1]!, bucket: m[2]!, remote: resolveRemote(repo, o.dataRemote).name };
      } else if (o.dataRemote !== undefined) throw new DvError('--data-remote goes with --data-endpoint', 2);
      const { describeReason } = await import('../../pipeline/plan.js');
      if (o.order !== 'newest' && o.order !== 'oldest') throw new DvError(`--order must be newest or oldest, got '${o.order}'`, 2);
      const { RunProgress, lastLine } = await import('../../pipeline/progress.js');
      const { runningJobs } = await import('../../pipeline/logs.js');
      const live = new RunProgress();
      const draw = (): void => {
        if (!progress.enabled) return;
        const p = live.snapshot();
        if (!p.stage) return;
        const bits = [`${p.stage}: ${p.done}/${p.total}`, `${p.running} running`, `${p.cached} cached`];
        if (p.failed) bits.push(`${p.failed} failed`);
        if (p.rate) bits.push(`${p.rate.toFixed(1)}/s`, `ETA ${Math.ceil(p.etaSec ?? 0)}s`);
        const job = p.running ? runningJobs(repo, undefined, 4096)[0] : undefined;
        const line = job ? lastLine(job.stdout || job.stderr) : '';
        progress.update({ phase: bits.join(', ') + (line ? ` | ${job!.datum || job!.stage}: ${line}` : '') });
      };
      const ticker = progress.enabled && !o.dryRun ? setInterval(draw, 500) : null;
      const onProgress = (e: RunEvent) => {
        live.onEvent(e);
        if (e.type === 'done' || e.type === 'plan') draw();
        if (e.type === 'hook' && e.hook.error) {
          process.stderr.write(`dv: warning: hook ${e.hook.event}${e.hook.stage ? ` of stage ${e.hook.stage}` : ''} ${e.hook.error} (the run's status stands)\n`);
        }
        if (!o.json && !g().quiet && !o.dryRun) {
          if (e.type === 'start' && !progress.enabled) println(`${e.stage}${e.datum ? `: ${e.datum}` : ''}`);
          if (e.type === 'retry') println(`${e.stage}: ${e.datum} failed (attempt ${e.attempt}), retrying in ${secs(e.delayMs)}`);
          if (e.type === 'done' && e.status === 'failed') println(`${e.stage}: ${e.datum} FAILED: ${e.error ?? ''}`);
        }
      };
      // Ctrl-C / SIGTERM: stop launching, signal running commands (SIGTERM, then SIGKILL
      // after a grace period), keep finished datums in the run-cache, record the run as cancelled.
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let r: Awaited<ReturnType<typeof runPipeline>>;
      try {
        r = await runPipeline(repo, { stages, force: o.force, dryRun: o.dryRun, jobs: o.jobs, params: o.param,
          branch: o.branch, backfill: o.backfill, order: o.order, keepGoing: o.keepGoing, message: o.message, onProgress, signal: ac.signal,
          isolation: o.isolation, jobEndpoint, dataEndpoint, executorKind: o.executor });
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        if (ticker) clearInterval(ticker);
        progress.done();
      }
      if (r.status === 'cancelled') {
        const kept = (r.record?.stages ?? []).reduce((n, s) => n + s.counts.run, 0);
        throw new DvError(`run ${shortId(r.runId!)} cancelled; ${kept} finished datum(s) kept in the run-cache, the next dv run resumes from them`, 130);
      }
      if (o.json) printJson(r);
      else if (r.dryRun) {
        printPlans(r.plans, describeReason as (x: never) => string);
        for (const b of r.submissions ?? []) println(`\n# ${b.executor} batch of stage ${b.stage}: ${b.datums.length} datum(s)\n${b.text}`);
      }
      else if (!g().quiet) {
        for (const s of r.record?.stages ?? []) {
          const c = s.counts;
          println(`stage ${s.name}: ${s.status}, ${c.run} run, ${c.cached} from run-cache, ${c.reused} reused, ${c.removed} removed${c.failed ? `, ${c.failed} failed` : ''}`);
        }
        println(r.commit ? `run ${r.runId} committed ${r.commit} on ${r.branch}` : `run ${r.runId}: ${r.status}, nothing to commit`);
      }
      if (r.status !== 'succeeded') throw new DvError(`run ${r.runId ?? ''} ${r.status}${r.error ? `: ${r.error}` : ''}; see dv runs show ${r.runId ? shortId(r.runId) : ''}`);
    }));

  program.command('dag')
    .description('draw the stage graph of dv.yaml')
    .option('--ascii', 'plain ASCII characters')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const { dag } = await import('../../pipeline/history.js');
      const { Repo } = await import('../../repo/repo.js');
      const repo = Repo.open(process.cwd());
      const root = repo.root;
      repo.close();
      g();
      const info = dag(root, { ascii: o.ascii });
      if (o.json) printJson({ stages: info.stages, order: info.order });
      else process.stdout.write(info.text.endsWith('\n') ? info.text : info.text + '\n');
    });

  const runs = program.command('runs')
    .description('run history: id, stages, datums run / reused, status, start, duration')
    .option('-n, --max-count <n>', 'show at most N runs', positive)
    .option('--json', 'print JSON')
    .action((o) => withRepo(g(), async (repo) => {
      const { listRuns } = await import('../../pipeline/history.js');
      const list = await listRuns(repo, { limit: o.maxCount });
      if (o.json) { printJson(list); return; }
      for (const r of list) {
        const c = r.counts;
        println(`${shortId(r.id)}  ${r.status.padEnd(9)} ${r.startedAt}  ${secs(r.durationMs).padStart(8)}  ${r.stages.join(',')}  run ${c.run}, cached ${c.cached}, reused ${c.reused}, removed ${c.removed}${c.failed ? `, failed ${c.failed}` : ''}`);
      }
    }));

  runs.command('show')
    .description('a run in full: commands, params, code and data versions, per-datum exit codes, timings and logs')
    .argument('<id>')
    .option('--no-logs', 'leave out captured stdout/stderr')
    .option('--json', 'print JSON')
    .action((id: string, o, cmd: Command) => withRepo(g(), async (repo) => {
      const { showRun } = await import('../../pipeline/history.js');
      const { record: r, logs } = await showRun(repo, id, { logs: o.logs });
      // `dv runs show ID --json`: commander hands --json to `runs`, which declares it too.
      if (o.json || cmd.parent?.opts().json) { printJson({ record: r, logs }); return; }
      println(`run ${r.id}  ${r.status}`);
      println(`branch ${r.branch ?? '-'}, base ${r.base ? shortId(r.base) : '-'}, commit ${r.commit ? shortId(r.commit) : '-'}`);
      println(`started ${r.startedAt}, ${secs(r.durationMs)}; code ${r.git ? `git ${r.git.commit.slice(0, 12)}${r.git.dirty ? ' (dirty)' : ''}` : '-'}`);
      println(`params ${JSON.stringify(r.params)}`);
      if (r.error) println(`error: ${r.error}`);
      for (const s of r.stages) {
        println(`\nstage ${s.name}: ${s.status}`);
        println(`  cmd: ${s.cmd}`);
        for (const d of s.datums) {
          println(`  ${d.id}: ${d.status}, exit ${d.exitCode ?? '-'}, ${d.attempts} attempt(s), ${secs(d.durationMs)}`);
          if (d.inputHash) println(`    input ${d.inputHash.slice(0, 12)}; outputs ${Object.entries(d.outputs).map(([p, h]) => `${p}@${h.slice(0, 12)}`).join(', ') || '-'}`);
          const log = logs[`${s.name}:${d.id}`];
          if (log) println(log.replace(/^/gm, '    | ').trimEnd());
        }
      }
    }));

  runs.command('logs')
    .description('captured output of a run\'s datums, running ones included; --follow until the run ends')
    .argument('<id>').argument('[datum]', 'a datum (its input path), STAGE:DATUM, or a stage that runs once')
    .option('-f, --follow', 'keep printing output as datums run and finish')
    .option('--json', 'print JSON')
    .action((id: string, datum: string | undefined, o, cmd: Command) => withRepo(g(), async (repo) => {
      const { runLogs, followLogs } = await import('../../pipeline/logs.js');
      const header = (e: { stage: string; datum: string; status: string }): string => `== ${e.stage}${e.datum ? `:${e.datum}` : ''} (${e.status}) ==`;
      if (!o.follow) {
        const logs = await runLogs(repo, id, datum);
        if (o.json || cmd.parent?.opts().json) { printJson(logs); return; }
        for (const e of logs.entries) println(`${header(e)}\n${e.text.trimEnd()}`);
        return;
      }
      const streamed = new Set<string>();
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      try {
        await followLogs(repo, id, datum, (e) => {
          const key = `${e.stage}:${e.datum}`;
          println(streamed.has(key) ? header(e) : `${header(e)}\n${e.text.trimEnd()}`);
        }, (key, text) => {
          if (!streamed.has(key)) println(`== ${key} (running) ==`);
          streamed.add(key);
          process.stdout.write(text);
        }, ac.signal);
      } finally {
        process.off('SIGINT', stop);
      }
    }));

  program.command('lineage')
    .description('walk from an output file back to the inputs, stage and code that made it')
    .argument('<spec>', 'REF:PATH')
    .option('--json', 'print JSON')
    .action((spec: string, o) => withRepo(g(), async (repo) => {
      const { lineage } = await import('../../pipeline/history.js');
      const tree = await lineage(repo, spec);
      if (o.json) printJson(tree);
      else printLineage(tree);
    }));
}

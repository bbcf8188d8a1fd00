// What one datum's job runs, spelled out for an engine that is not dv: the command
// line (expanded as the local executor expands it, with ${out} naming the job's
// scratch copy), its working directory, its DV_* and stage environment, and the
// scratch directories to create. Cluster executors write this into what they submit
// (an sbatch script, a pod spec), so a datum runs the same there as it does locally.
import { dirname, join } from 'node:path';
import { interpolate, type Bindings } from '../interpolate.js';
import { workspaceBindings } from '../plan.js';
import type { Job } from '../executor.js';
import { LocalExecutor } from './local.js';

export interface TaskSpec {
  /** The expanded command, for /bin/sh -c. */
  cmd: string;
  cwd: string;
  /** The stage's env and the DV_* variables; the engine supplies the rest. */
  env: Record<string, string>;
  /** Directories to create before the command runs (where its outs go). */
  dirs: string[];
}

const envOnly = new LocalExecutor({ root: '/', env: {} });

/** The spec of `job` run from `root` (as the job sees the project) with scratch directory `scratch`. */
export function taskSpec(job: Job, root: string, scratch: string): TaskSpec {
  const { stage, datum } = job;
  const sp = (p: string): string => join(scratch, p);
  const outs = stage.outs.map(sp);
  const out = datum.out === null ? null : sp(datum.out);
  const bindings: Bindings = {
    ...workspaceBindings(stage, datum, job.params), out, outs,
    outdir: stage.foreach !== null ? outs[0]! : null,
  };
  const env = envOnly.environment(job, scratch, bindings) as Record<string, string>;
  env.DV_INPUT = datum.input === null ? '' : join(root, datum.input);
  env.DV_WORKSPACE = root;
  const dirs = stage.outs.map((o) => sp(stage.outDirs.includes(o) ? o : dirname(o)));
  if (out) dirs.push(dirname(out));
  return {
    cmd: interpolate(stage.cmd, bindings, 'shell'), cwd: stage.wdir ? join(root, stage.wdir) : root, env,
    dirs: [...new Set(dirs)].sort(),
  };
}

/** A word for /bin/sh: single-quoted, with embedded quotes closed and escaped. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `dir=...` and a shell function run_datum I: datum I's directories, environment, start time and command. */
export function datumCases(dir: string, tasks: TaskSpec[]): string[] {
  const lines = [`dir=${shQuote(dir)}`, 'run_datum() {', '  date +%s%3N > "$dir/$1.start"', '  case "$1" in'];
  tasks.forEach((t, i) => {
    lines.push(`  ${i})`);
    if (t.dirs.length) lines.push(`    mkdir -p ${t.dirs.map(shQuote).join(' ')}`);
    for (const [k, v] of Object.entries(t.env)) lines.push(`    export ${k}=${shQuote(v)}`);
    lines.push(`    cd ${shQuote(t.cwd)} && exec /bin/sh -c ${shQuote(t.cmd)}`, '    ;;');
  });
  lines.push('  *) echo "dv: no datum $1 here" >&2; return 1 ;;', '  esac', '}');
  return lines;
}

/** Runs datum `$index` (one per pod): its status goes to `dir` (<i>.rc by rename), its output to the pod's log. */
export function podBody(dir: string, index: string, tasks: TaskSpec[]): string[] {
  return [...datumCases(dir, tasks), `i=${index}`, '( run_datum "$i" )', 'rc=$?',
    'echo "$rc" > "$dir/$i.rc.part" && mv "$dir/$i.rc.part" "$dir/$i.rc"', 'exit "$rc"'];
}

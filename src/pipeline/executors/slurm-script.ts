// The sbatch script of one submission: an array job whose task k runs batch k, the
// datums k*N .. k*N+N-1 (`batch: N`) one after the other, so Slurm's per-job start-up
// is paid once per batch. Every datum's command, directory and environment are
// written out in full, so the script is the whole of what is submitted (`dv run
// --dry-run --executor slurm` prints it for review). Each datum records its start
// time, stdout, stderr and exit status in the submission's directory (<i>.start,
// <i>.out, <i>.err, <i>.rc written by rename) for the coordinating dv run.
import type { StageConfig } from '../types.js';
import type { JobIoSpec } from './job-io.js';
import { servedCases } from './served-data.js';
import { datumCases, shQuote, type TaskSpec } from './task-spec.js';

export interface Resources {
  cpus?: number;
  /** Bytes, or a string with a K/M/G/T suffix. */
  memory?: number | string;
  timeoutSec?: number;
}

/** The stage's resources: `resources` of the sandbox keys when present, else its timeout. */
export function stageResources(stage: StageConfig): Resources {
  const r = (stage as StageConfig & { resources?: { cpus?: number; memory?: number | string; timeout?: number } }).resources ?? {};
  const timeoutSec = r.timeout ?? stage.timeoutSec ?? undefined;
  return { cpus: r.cpus, memory: r.memory, ...(timeoutSec ? { timeoutSec } : {}) };
}

/** Slurm's --mem takes megabytes (or a K/M/G/T suffix). */
function slurmMemory(m: number | string): string {
  if (typeof m === 'number') return `${Math.max(1, Math.ceil(m / (1 << 20)))}M`;
  const u = /^(\d+(?:\.\d+)?)\s*([KMGT])i?B?$/i.exec(m.trim());
  if (!u) return m;
  const mb = Number(u[1]) * { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 }[u[2]!.toUpperCase() as 'K' | 'M' | 'G' | 'T'];
  return `${Math.max(1, Math.ceil(mb))}M`;
}

/** The #SBATCH lines of a submission of `count` array tasks (batches) of `stage`. */
export function sbatchOptions(stage: StageConfig, dir: string, name: string, count: number, log = `${dir}/task-%a.out`): string[] {
  const res = stageResources(stage);
  const slurm = stage.cluster?.slurm;
  const opts = [
    `--job-name=${name}`, `--array=0-${count - 1}`, `--output=${log}`, `--error=${log}`,
    '--ntasks=1', `--cpus-per-task=${res.cpus ?? 1}`,
  ];
  if (res.memory !== undefined) opts.push(`--mem=${slurmMemory(res.memory)}`);
  if (res.timeoutSec) opts.push(`--time=${Math.max(1, Math.ceil(res.timeoutSec / 60))}`);
  if (slurm?.partition) opts.push(`--partition=${slurm.partition}`);
  if (slurm?.account) opts.push(`--account=${slurm.account}`);
  if (slurm?.gres) opts.push(`--gres=${slurm.gres}`);
  opts.push(...(slurm?.options ?? []));
  return opts;
}

/** The array task of datum `i` when batches hold `per` datums. */
export const arrayTask = (i: number, per: number): number => Math.floor(i / per);

/** The array task of each datum when consecutive batches have these sizes. */
export function arrayTasks(sizes: number[]): number[] {
  return sizes.flatMap((n, k) => Array<number>(n).fill(k));
}

function header(stage: StageConfig, count: number, sizes: number[], how: string): string {
  const same = sizes.every((n) => n === sizes[0]);
  const shape = same ? `of ${sizes[0] ?? 0}` : `of ${sizes.join(', ')}`;
  return `# dv: stage ${stage.name}, ${count} datum${count === 1 ? '' : 's'} in ${sizes.length} batch${sizes.length === 1 ? '' : 'es'} ${shape}${how}`;
}

/** Array task k runs datums starts[k] .. starts[k+1]-1. */
function taskLoop(sizes: number[], body: string[]): string[] {
  const starts = [0];
  for (const n of sizes) starts.push(starts[starts.length - 1]! + n);
  return [`starts=(${starts.join(' ')})`, 'first=${starts[$SLURM_ARRAY_TASK_ID]}', 'last=$((${starts[$((SLURM_ARRAY_TASK_ID + 1))]} - 1))',
    'status=0', 'for i in $(seq "$first" "$last"); do', ...body, 'done'];
}

export function sbatchScript(stage: StageConfig, dir: string, name: string, tasks: TaskSpec[], sizes: number[]): string {
  const lines = ['#!/bin/bash', header(stage, tasks.length, sizes, '')];
  for (const o of sbatchOptions(stage, dir, name, sizes.length)) lines.push(`#SBATCH ${o}`);
  lines.push(...datumCases(dir, tasks), ...taskLoop(sizes, [
    '  ( run_datum "$i" ) > "$dir/$i.out" 2> "$dir/$i.err"', '  rc=$?',
    '  echo "$rc" > "$dir/$i.rc.part" && mv "$dir/$i.rc.part" "$dir/$i.rc"', '  [ "$rc" = 0 ] || status=$rc']),
  'exit "$status"', '');
  return lines.join('\n');
}

/**
 * The script of a `data: s3` submission: nothing of it needs the project's filesystem.
 * job-io goes to the node in a here-document; each datum downloads its inputs from dv
 * serve, runs, and uploads its outputs and status there (the key comes in the
 * environment sbatch exports, never in the script). Task logs stay on the node.
 */
export function sbatchServedScript(stage: StageConfig, name: string, specs: JobIoSpec[], sizes: number[]): string {
  const lines = ['#!/bin/bash', header(stage, specs.length, sizes, ', data through dv serve')];
  for (const o of sbatchOptions(stage, '', name, sizes.length, `/tmp/${name}-%a.out`)) lines.push(`#SBATCH ${o}`);
  lines.push(...servedCases(specs, shQuote), 'args=()', ...taskLoop(sizes, ['  args+=("$(spec_of "$i")")']),
    '"${DV_NODE:-node}" "$io" run "${args[@]}" || status=$?', 'exit "$status"', '');
  return lines.join('\n');
}

// The sbatch script of one batch: an array job whose task i runs datum i of the
// batch. Every task's command, directory and environment are written out in full,
// so the script is the whole of what is submitted (`dv run --dry-run --executor
// slurm` prints it for review). A task records when it started and its exit status
// in the batch directory (<i>.start, <i>.rc, written by rename) for the
// coordinating dv run; Slurm writes its stdout and stderr to <i>.out and <i>.err.
import type { StageConfig } from '../types.js';
import { shQuote, type TaskSpec } from './task-spec.js';

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

/** The #SBATCH lines of a batch of `count` tasks of `stage`. */
export function sbatchOptions(stage: StageConfig, dir: string, name: string, count: number): string[] {
  const res = stageResources(stage);
  const slurm = stage.cluster?.slurm;
  const opts = [
    `--job-name=${name}`, `--array=0-${count - 1}`, `--output=${dir}/%a.out`, `--error=${dir}/%a.err`,
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

export function sbatchScript(stage: StageConfig, dir: string, name: string, tasks: TaskSpec[]): string {
  const lines = ['#!/bin/bash', `# dv: stage ${stage.name}, ${tasks.length} datum${tasks.length === 1 ? '' : 's'}`];
  for (const o of sbatchOptions(stage, dir, name, tasks.length)) lines.push(`#SBATCH ${o}`);
  lines.push(`dir=${shQuote(dir)}`, 'i=$SLURM_ARRAY_TASK_ID', 'date +%s%3N > "$dir/$i.start"', 'case "$i" in');
  tasks.forEach((t, i) => {
    lines.push(`${i})`);
    if (t.dirs.length) lines.push(`  mkdir -p ${t.dirs.map(shQuote).join(' ')}`);
    for (const [k, v] of Object.entries(t.env)) lines.push(`  export ${k}=${shQuote(v)}`);
    lines.push(`  cd ${shQuote(t.cwd)} && /bin/sh -c ${shQuote(t.cmd)}`, '  ;;');
  });
  lines.push('*) echo "dv: no task $i in this batch" >&2; false ;;', 'esac', 'rc=$?',
    'echo "$rc" > "$dir/$i.rc.part" && mv "$dir/$i.rc.part" "$dir/$i.rc"', 'exit "$rc"', '');
  return lines.join('\n');
}

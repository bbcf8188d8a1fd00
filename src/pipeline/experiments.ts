// dv exp run: one experiment per combination of `-p KEY=V1,V2` values (a grid). Each
// runs in its own copy of the workspace under .dv/tmp, with the params files edited
// there (DVC projects' commands read params.yaml themselves), as a run whose commit
// goes on a hidden ref `exps/NAME` based on HEAD. Stages whose inputs and params are
// unchanged are reused from HEAD's state; shared stages that do need to run run once
// (the run-cache, and in-flight keys across experiments running at once with -j N).
// The run record names the experiment, so experiments travel with push/pull as runs do.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { Repo } from '../repo/repo.js';
import { DvError } from '../store/errors.js';
import { applyParamOverrides } from './config.js';
import { writeParamsFiles } from './dvc-yaml.js';
import { loadPipeline } from './load.js';
import { runPipeline, type RunEvent } from './run.js';
import { runPool } from './scheduler.js';
import type { ParamValue, Params, PipelineConfig } from './types.js';

export interface ExpSpec {
  name: string;
  /** Flat param name -> value. */
  overrides: Params;
}

export interface ExpRunResult extends ExpSpec {
  runId: string | null;
  status: 'succeeded' | 'failed' | 'cancelled' | 'queued';
  commit: string | null;
  error: string | null;
}

export interface ExpRunOptions {
  /** `KEY=V1,V2,...`, repeatable: the grid is their cartesian product. */
  params?: string[];
  /** Name of the experiment (a single combination only). */
  name?: string;
  /** Record the experiments in the queue instead of running them. */
  queue?: boolean;
  /** Experiments run at once. */
  jobs?: number;
  signal?: AbortSignal;
  onProgress?: (name: string, e: RunEvent) => void;
}

const QUEUE = 'exp-queue.json';

function parseValue(s: string): ParamValue {
  const v: unknown = YAML.parse(s);
  return v === undefined || v === null ? null : typeof v === 'object' ? s : (v as ParamValue);
}

/** The grid of `-p` options, checked against the pipeline's params. */
export function grid(config: PipelineConfig, specs: string[]): Params[] {
  let combos: Params[] = [{}];
  for (const spec of specs) {
    const i = spec.indexOf('=');
    if (i <= 0) throw new DvError(`-p ${spec}: expected KEY=VALUE[,VALUE...]`, 2);
    const key = spec.slice(0, i);
    if (!Object.prototype.hasOwnProperty.call(config.params, key)) {
      throw new DvError(`-p ${key}: unknown param (params: ${Object.keys(config.params).join(', ') || 'none'})`, 2);
    }
    const values = spec.slice(i + 1).split(',').map(parseValue);
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  }
  return combos;
}

function newName(taken: Set<string>): string {
  for (;;) {
    const n = `exp-${crypto.randomBytes(3).toString('hex')}`;
    if (!taken.has(n)) return n;
  }
}

function queuePath(repo: Repo): string {
  return path.join(repo.dvDir, QUEUE);
}

export function readQueue(repo: Repo): ExpSpec[] {
  try {
    return JSON.parse(fs.readFileSync(queuePath(repo), 'utf8')) as ExpSpec[];
  } catch {
    return [];
  }
}

function writeQueue(repo: Repo, q: ExpSpec[]): void {
  const tmp = `${queuePath(repo)}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  fs.writeSync(fd, JSON.stringify(q, null, 2) + '\n');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, queuePath(repo));
}

/** A copy of the project (without .dv and .git) with the params files edited. */
function makeWorkspace(repo: Repo, config: PipelineConfig, spec: ExpSpec): string {
  const dir = path.join(repo.dvDir, 'tmp', `exp-${spec.name}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const e of fs.readdirSync(repo.root)) {
    if (e === '.dv' || e === '.git') continue;
    fs.cpSync(path.join(repo.root, e), path.join(dir, e), { recursive: true, mode: fs.constants.COPYFILE_FICLONE, verbatimSymlinks: true });
  }
  if (config.paramFiles) writeParamsFiles(dir, spec.overrides);
  return dir;
}

async function runOne(repo: Repo, config: PipelineConfig, spec: ExpSpec, opts: ExpRunOptions,
  inflight: Map<string, Promise<unknown>>): Promise<ExpRunResult> {
  const dir = makeWorkspace(repo, config, spec);
  const ref = `exps/${spec.name}`;
  try {
    const r = await runPipeline(repo, {
      workspace: dir, locked: true, ref, inflight, signal: opts.signal,
      params: config.paramFiles ? [] : applyParamOverrides(config.params, spec.overrides),
      experiment: { name: spec.name, baseline: repo.headCommit(), ref, overrides: spec.overrides },
      message: `dv exp run ${spec.name}: ${Object.entries(spec.overrides).map(([k, v]) => `${k}=${v}`).join(' ')}`,
      onProgress: opts.onProgress ? (e) => opts.onProgress!(spec.name, e) : undefined,
    });
    // Nothing changed against HEAD: the experiment is HEAD itself.
    const commit = r.commit ?? (r.status === 'succeeded' ? repo.headCommit() : null);
    if (commit && !r.commit) repo.refs.set(ref, commit);
    return { ...spec, runId: r.runId, status: r.status, commit, error: r.error };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function runSpecs(repo: Repo, specs: ExpSpec[], opts: ExpRunOptions): Promise<ExpRunResult[]> {
  if (!repo.headCommit()) throw new DvError('HEAD has no commits yet: an experiment starts from a commit (dv add, dv run)');
  const config = loadPipeline(repo.root);
  const inflight = new Map<string, Promise<unknown>>();
  return repo.withLock('exp run', async () => {
    const pool = await runPool(specs, (s) => runOne(repo, config, s, opts, inflight), {
      concurrency: opts.jobs ?? 1, signal: opts.signal, keepGoing: true,
    });
    return specs.map((s, i) => pool.results[i] ?? { ...s, runId: null, status: 'cancelled', commit: null, error: 'cancelled' });
  });
}

/** dv exp run: the grid of -p values, run now (or queued with `queue`). */
export async function expRun(repo: Repo, opts: ExpRunOptions = {}): Promise<ExpRunResult[]> {
  const config = loadPipeline(repo.root);
  const combos = grid(config, opts.params ?? []);
  if (opts.name && combos.length > 1) throw new DvError(`--name ${opts.name}: names one experiment, the grid has ${combos.length}`, 2);
  const taken = new Set([...repo.refs.list('exps/').map((r) => r.name.slice(5)), ...readQueue(repo).map((q) => q.name)]);
  if (opts.name) {
    if (taken.has(opts.name)) throw new DvError(`experiment ${opts.name} exists already`);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(opts.name)) throw new DvError(`invalid experiment name '${opts.name}'`, 2);
  }
  const specs = combos.map((overrides) => {
    const name = opts.name ?? newName(taken);
    taken.add(name);
    return { name, overrides };
  });
  if (opts.queue) {
    writeQueue(repo, [...readQueue(repo), ...specs]);
    return specs.map((s) => ({ ...s, runId: null, status: 'queued', commit: null, error: null }));
  }
  return runSpecs(repo, specs, opts);
}

/** dv exp run --run-all: the queued experiments; those that ran leave the queue. */
export async function expRunQueued(repo: Repo, opts: Omit<ExpRunOptions, 'params' | 'name' | 'queue'> = {}): Promise<ExpRunResult[]> {
  const queued = readQueue(repo);
  const results = await runSpecs(repo, queued, opts);
  const done = new Set(results.filter((r) => r.status !== 'cancelled').map((r) => r.name));
  writeQueue(repo, readQueue(repo).filter((q) => !done.has(q.name)));
  return results;
}

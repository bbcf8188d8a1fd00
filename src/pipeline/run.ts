// dv run: load dv.yaml, hash the inputs through the stat cache, then plan and run
// one stage at a time in topological order, so each stage is planned from what its
// upstream actually produced (early cut-off). A successful run commits its outputs
// (and the inputs it consumed) to the branch as one commit naming the run.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterDvCommit, gitInfo } from '../repo/git.js';
import { checkRefName } from '../repo/refs.js';
import type { Repo } from '../repo/repo.js';
import { StatCache } from '../repo/workspace.js';
import { DvError } from '../store/errors.js';
import { applyParamOverrides } from './config.js';
import { loadPipeline } from './load.js';
import type { Executor } from './executor.js';
import { Executors } from './executors/index.js';
import { JobAccess, type StartJobEndpoint } from './job-access.js';
import type { IdentityConfig } from './config-sandbox.js';
import { assertMayMove, localActor, type Actor } from '../repo/protect.js';
import type { ExecutorKind } from './config-cluster.js';
import { previewSubmissions, type Submission } from './cluster-preview.js';
import { isUnder } from './paths.js';
import { parseBackfill, planPipeline, planStage } from './plan.js';
import { runHook, type HookResult } from './hooks.js';
import { journalPath } from './logs.js';
import { PipelineStore } from './records.js';
import { selectTargets } from './targets.js';
import { saveState, type LoadedState } from './state.js';
import { commitRun, driftFrom, hashWorkspace, inputsCommit } from './run-commit.js';
import { dataMode } from './config-cluster.js';
import { recordedDurations } from './executors/batch-size.js';
import { executorKind } from './executors/index.js';
import { ServedData } from './executors/served-data.js';

/** A stage whose cluster jobs move their data through dv serve. */
const servedStage = (s: StageConfig, kind?: ExecutorKind): boolean => {
  const k = executorKind(s, kind);
  return k !== 'local' && dataMode(s.cluster, k) === 's3';
};
import { RunWorkspace } from './run-workspace.js';
import { WorkspaceUndo } from './undo.js';
import { runStage, type RunEvent, type StageContext } from './stage-run.js';
import type {
  Backfill, BackfillOrder, Hooks, ParamValue, PipelineState, RunRecord, StageConfig, StagePlan, StageRunRecord,
} from './types.js';

export type { RunEvent } from './stage-run.js';

export interface RunOptions {
  /** Target stages; they and everything upstream run. Default: all. */
  stages?: string[];
  force?: boolean;
  dryRun?: boolean;
  jobs?: number;
  /** `-p KEY=VALUE` overrides. */
  params?: string[] | Record<string, ParamValue>;
  /** Branch the outputs are committed to; default the checked-out one. */
  branch?: string;
  backfill?: string | Backfill;
  order?: BackfillOrder;
  /** Keep starting datums of a stage after one failed. */
  keepGoing?: boolean;
  executor?: Executor;
  /** `--executor`: run every stage's datums there instead of where dv.yaml says. */
  executorKind?: ExecutorKind;
  /** Directory the pipeline runs in (an experiment's copy); default the project root. */
  workspace?: string;
  /** The caller holds the repository lock already (dv exp run -j N runs several at once). */
  locked?: boolean;
  /** Commit the outputs on this ref instead of a branch (an experiment's hidden ref, e.g. exps/NAME). */
  ref?: string;
  /** Stored in the run record: what makes the run an experiment. */
  experiment?: RunRecord['experiment'];
  /** Datums being run by another run of this process, by cache key: wait, then take its entry. */
  inflight?: Map<string, Promise<unknown>>;
  /** First retry delay (doubles per retry); default 1 s. */
  retryBaseDelayMs?: number;
  message?: string;
  signal?: AbortSignal;
  onProgress?: (e: RunEvent) => void;
  /** `dv run --isolation`: run every stage so, whatever its `isolation` says. */
  isolation?: 'local' | 'sandbox';
  /** Starts the dv serve endpoint jobs with S3 access reach (the CLI: in-process, loopback). */
  jobEndpoint?: StartJobEndpoint;
  /** `dv run --data-endpoint`: `data: s3` jobs go through a `dv serve --remote` there, serving this remote. */
  dataEndpoint?: { url: string; bucket: string; remote: string };
}

export interface RunResult {
  /** Null for a dry run. */
  runId: string | null;
  status: RunRecord['status'];
  dryRun: boolean;
  branch: string;
  plans: StagePlan[];
  commit: string | null;
  record: RunRecord | null;
  error: string | null;
  /** Dry run: what would be submitted to a cluster (sbatch scripts), per batch. */
  submissions?: Submission[];
}

/** Paths whose files the selected stages read or own. */
export function scanRoots(root: string, stages: StageConfig[]): string[] {
  const roots = new Set<string>();
  for (const s of stages) {
    s.deps.forEach((d) => roots.add(d));
    s.outs.forEach((o) => roots.add(o));
    if (s.foreachBase !== null) roots.add(s.foreachBase);
  }
  if (roots.has('')) {
    roots.delete('');
    for (const e of fs.readdirSync(root)) if (e !== '.dv' && e !== '.git') roots.add(e);
  }
  const sorted = [...roots].sort();
  return sorted.filter((p) => !sorted.some((q) => q !== p && isUnder(p, q)));
}

export interface Prepared {
  root: string;
  /** Run-level hooks of the pipeline file. */
  hooks: Hooks;
  /** Stages limited to some datums (dv run PATH). */
  only: Map<string, string[]>;
  /** Every stage name in dv.yaml (state of removed stages is dropped). */
  configured: Set<string>;
  stages: StageConfig[];
  params: Record<string, ParamValue>;
  backfill: Backfill | null;
  backfillStages: Set<string>;
  branch: string;
  base: string | null;
  loaded: LoadedState;
  roots: string[];
  store: PipelineStore;
  identities: Map<string, IdentityConfig>;
  /** Who the run acts as: its stages' identities, then the local one (protected branches, audit). */
  actors: Actor[];
}

async function prepare(repo: Repo, opts: RunOptions): Promise<Prepared> {
  const root = opts.workspace ?? repo.root;
  const config = loadPipeline(root, repo.root);
  const overrides = Array.isArray(opts.params) ? opts.params.length : Object.keys(opts.params ?? {}).length;
  if (config.paramFiles && overrides > 0) {
    throw new DvError('-p with dvc.yaml: the commands read params.yaml themselves; use dv exp run -p KEY=VALUE (it runs with an edited copy)', 2);
  }
  const selection = selectTargets(config, opts.stages ?? []);
  const stages = selection.stages.map((n) => config.stages.get(n)!);
  const params = applyParamOverrides(config.params, opts.params ?? []);
  const backfill = !opts.backfill ? null
    : typeof opts.backfill === 'string' ? parseBackfill(opts.backfill, opts.order ?? 'oldest') : opts.backfill;
  const namedStages = (opts.stages ?? []).filter((n) => config.stages.has(n));
  const named = namedStages.length ? namedStages : stages.filter((s) => s.partition).map((s) => s.name);
  const backfillStages = new Set(backfill ? named : []);
  if (backfill && backfillStages.size === 0) throw new DvError('--backfill: no stage in dv.yaml has a partition pattern');
  for (const n of backfillStages) {
    if (!config.stages.get(n)!.partition) throw new DvError(`--backfill: stage ${n} has no partition pattern in dv.yaml`);
  }
  const head = repo.head();
  const branch = opts.ref ? opts.ref : opts.branch ?? head.branch;
  if (!branch) throw new DvError('HEAD is detached: pass --branch NAME to say where the outputs are committed', 2);
  checkRefName(branch, 'branch');
  const actors = runActors(stages);
  if (!opts.ref && !opts.dryRun) assertMayMove(repo, branch, actors); // refused before anything runs
  const base = (opts.ref ? null : repo.refs.get(`heads/${branch}`)) ?? head.commit ?? null;
  const store = new PipelineStore(repo);
  await store.sync();
  const loaded = await store.stateAt(base);
  return { root, hooks: config.hooks, only: selection.only, configured: new Set(config.stages.keys()), stages, params, backfill, backfillStages, branch, base, loaded, roots: scanRoots(root, stages), store,
    identities: config.identities ?? new Map(), actors };
}

export async function runPipeline(repo: Repo, opts: RunOptions = {}): Promise<RunResult> {
  const p = await prepare(repo, opts);
  if (opts.dryRun) {
    const { files } = await hashWorkspace(repo, p.root, p.roots, new StatCache(repo.db), false);
    const plans = planPipeline({
      stages: p.stages, params: p.params, files, state: p.loaded.state, force: opts.force,
      backfill: p.backfill, backfillStages: p.backfillStages, hasCache: (k) => p.store.hasCache(k), only: p.only,
    });
    const durations = p.stages.some((s) => s.cluster?.batchDurationMs) ? await recordedDurations(p.store, p.stages.map((s) => s.name)) : undefined;
    const submissions = previewSubmissions(p.root, repo.dvDir, p.stages, plans, p.params, opts.executorKind, durations);
    return { runId: null, status: 'succeeded', dryRun: true, branch: p.branch, plans, commit: null, record: null, error: null,
      ...(submissions.length ? { submissions } : {}) };
  }
  return opts.locked ? execute(repo, p, opts) : repo.withLock('run', () => execute(repo, p, opts));
}

/** Runs a stage's or the run's hook for a status, recording and reporting what it did. */
type Hook = (h: Hooks, stage: string | null, status: string, counts: StageRunRecord['counts']) => Promise<void>;

async function execute(repo: Repo, p: Prepared, opts: RunOptions): Promise<RunResult> {
  const runId = crypto.randomBytes(32).toString('hex');
  const startedAt = new Date();
  const emit = opts.onProgress ?? (() => undefined);
  const own = p.root === repo.root; // not an experiment's copy
  if (own) WorkspaceUndo.recover(p.root, path.join(repo.dvDir, 'tmp')); // a run killed outright: its workspace changes go first
  const swept = WorkspaceUndo.sweep(path.join(repo.dvDir, 'tmp')); // what runs before this one discarded, while this one works
  const git = await gitInfo(p.root);
  const baseFlat = await repo.flatten(p.base);
  const statCache = new StatCache(repo.db);
  const hashed = await hashWorkspace(repo, p.root, p.roots, statCache, true);
  const drift = await driftFrom(repo, p.base, baseFlat, hashed, p.roots);
  const journal = journalPath(repo, runId);
  let journalFd: number | null = null;
  const ws = new RunWorkspace(p.root, path.join(repo.dvDir, 'tmp', `${own ? 'undo' : 'exp-undo'}-${runId.slice(0, 16)}`), p.roots,
    hashed.files, hashed.ws, statCache);
  const inputs = new Map<string, Promise<string>>();
  const de = opts.dataEndpoint;
  const served = !opts.executor && (opts.jobEndpoint || de) && p.stages.some((s) => servedStage(s, opts.executorKind)) ? new ServedData({
    repo, runId, start: de ? async () => ({ url: de.url, bucket: de.bucket, stop: async () => undefined }) : opts.jobEndpoint!, remote: de?.remote,
    inputs: (stage) => inputs.get(stage) ?? inputs.set(stage, inputsCommit(repo, p, ws, hashed, drift, baseFlat, runId)).get(stage)!,
  }) : undefined;
  const durations = p.stages.some((s) => s.cluster?.batchDurationMs) ? await recordedDurations(p.store, p.stages.map((s) => s.name)) : undefined;
  const ctx: StageContext = {
    repo, store: p.store, ws,
    executors: new Executors({
      served, durations,
      root: p.root, tmpDir: path.join(repo.dvDir, 'tmp'), kind: opts.executorKind, isolation: opts.isolation, identities: p.identities,
      access: p.stages.some((s) => s.isolation?.s3) ? new JobAccess({
        repo, runId, branch: opts.ref ? '' : p.branch, base: p.base, identities: p.identities, start: opts.jobEndpoint,
      }) : undefined,
    }, opts.executor),
    settings: {
      runId, params: p.params, jobs: opts.jobs ?? 1, keepGoing: opts.keepGoing ?? false,
      retryBaseDelayMs: opts.retryBaseDelayMs, signal: opts.signal, emit, inflight: opts.inflight,
      journal: (e) => {
        try {
          journalFd ??= fs.openSync(journal, 'a'); // opened once per run, not per datum
          fs.writeSync(journalFd, JSON.stringify(e) + '\n');
        } catch { /* a view for dv runs logs, never worth failing a datum */ }
      },
    },
  };
  const state: PipelineState = { ...p.loaded.state };
  const plans: StagePlan[] = [];
  const stageRecords: StageRunRecord[] = [];
  let status: RunRecord['status'] = 'succeeded';
  let error: string | null = null;
  let commit: string | null = null;
  let thrown: unknown = null;
  const hooks: HookResult[] = [];
  const hook: Hook = async (h, stage, st, counts) => {
    const r = await runHook(h, { root: p.root, runId, status: st, stage, counts });
    if (!r) return;
    hooks.push(r);
    emit({ type: 'hook', hook: r });
  };
  /** The run's record as it stands, with the commit it made, stored (its row waits for the store's flush). */
  const writeRecord = async (made: string | null): Promise<RunRecord> => {
    const finishedAt = new Date();
    const r: RunRecord = {
      format: 2, id: runId, branch: p.branch, base: p.base, commit: made, status,
      startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(), git, params: p.params,
      options: { stages: p.stages.map((s) => s.name), force: opts.force ?? false, backfill: p.backfill, jobs: ctx.settings.jobs },
      stages: stageRecords,
      ...(opts.experiment ? { experiment: opts.experiment } : {}),
      ...(hooks.length ? { hooks: [...hooks] } : {}),
      state: made ? await saveState(repo.blobs, Object.fromEntries(Object.entries(state).filter(([n]) => p.configured.has(n))), p.loaded) : null,
      error,
    };
    await p.store.writeRecord(r);
    return r;
  };
  const written: { record?: RunRecord } = {};
  try {
    ({ status, error } = await runStages(ctx, p, opts, state, plans, stageRecords, hook));
    const did = stageRecords.some((s) => s.counts.run + s.counts.cached + s.counts.removed > 0);
    if (status === 'succeeded' && did) {
      // With no run hook to wait for, the record and the state are sealed in the commit's
      // pack: one seal per run. (Should what follows fail, a newer record supersedes it.)
      const withCommit = p.hooks.onSuccess ? undefined : async (id: string): Promise<void> => {
        written.record = await writeRecord(id);
      };
      commit = await commitRun(repo, p, ctx.ws, hashed, drift, baseFlat, runId, opts.message ?? defaultMessage(stageRecords),
        { ref: opts.ref, actor: p.actors, withCommit });
      emit({ type: 'commit', commit });
      if (!opts.ref && repo.head().branch === p.branch) await afterDvCommit(repo, commit, (await repo.readCommit(commit)).paths);
    }
  } catch (e) {
    thrown = e;
    status = 'failed';
    error = (e as Error).message;
  }
  await hook(p.hooks, null, status, totals(stageRecords));
  if (!commit) {
    // Nothing committed (failed, cancelled, or no change): the workspace goes back to how the run found it.
    ws.undo.rollback();
    statCache.forget(ws.contents.keys());
  }
  ws.undo.discard();
  ws.cleanup.push(swept);
  ws.cleanup.push(ctx.executors.close()); // ours: drop their spare scratch dirs
  const early = written.record;
  const record = early && early.commit === commit && early.status === status && (early.hooks?.length ?? 0) === hooks.length
    ? early : await writeRecord(commit);
  // Sealing here, even on failure, keeps the run-cache entries of finished datums: the next run resumes from them.
  await p.store.flush();
  await Promise.all(ws.cleanup);
  if (journalFd !== null) fs.closeSync(journalFd);
  fs.rmSync(journal, { force: true }); // the record has the logs now
  if (thrown) throw thrown; // its stat rows may name content of a discarded pack: not saved
  if (own) statCache.save(); // an experiment's copy has its own inodes: nothing to keep
  return { runId, status, dryRun: false, branch: p.branch, plans, commit, record, error };
}

/**
 * Plans and runs each stage in order, from what the stages before it produced (early
 * cut-off); stops at the first that fails or when cancelled. Fills plans and records.
 */
async function runStages(ctx: StageContext, p: Prepared, opts: RunOptions, state: PipelineState, plans: StagePlan[],
  stageRecords: StageRunRecord[], hook: Hook): Promise<{ status: RunRecord['status']; error: string | null }> {
  for (const stage of p.stages) {
    if (opts.signal?.aborted) return { status: 'cancelled', error: 'cancelled' };
    const plan = planStage({
      stage, params: p.params, files: ctx.ws.files, previous: state[stage.name], force: opts.force,
      backfill: p.backfillStages.has(stage.name) ? p.backfill : null, hasCache: (k) => p.store.hasCache(k),
      only: p.only.get(stage.name),
    });
    plans.push(plan);
    ctx.settings.emit({ type: 'plan', stage: stage.name, plan });
    const outcome = await runStage(ctx, stage, plan, state[stage.name]);
    stageRecords.push(outcome.record);
    await hook(stage.hooks, stage.name, outcome.ok ? 'succeeded' : outcome.cancelled ? 'cancelled' : 'failed', outcome.record.counts);
    if (!outcome.ok) return { status: outcome.cancelled ? 'cancelled' : 'failed', error: outcome.error };
    state[stage.name] = outcome.state;
  }
  return { status: 'succeeded', error: null };
}

/** The distinct identities of the stages (first: the one a commit records), then the local identity. */
function runActors(stages: StageConfig[]): Actor[] {
  const ids = [...new Set(stages.map((s) => s.isolation?.identity).filter((i): i is string => !!i))];
  return [...ids.map((identity) => ({ identity, key: null })), localActor()];
}

function totals(stages: StageRunRecord[]): StageRunRecord['counts'] {
  const t = { run: 0, cached: 0, reused: 0, removed: 0, failed: 0 };
  for (const s of stages) for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += s.counts[k];
  return t;
}

function defaultMessage(stages: StageRunRecord[]): string {
  const parts = stages.filter((s) => s.counts.run + s.counts.cached + s.counts.removed > 0).map((s) => {
    const c = s.counts;
    const bits = [c.run && `${c.run} run`, c.cached && `${c.cached} cached`, c.removed && `${c.removed} removed`].filter(Boolean);
    return `${s.name} (${bits.join(', ')})`;
  });
  return `dv run: ${parts.join(', ')}`;
}


// Executes one planned stage: restores run-cache hits, runs the rest through the
// executor with retries and -j N, and as each datum finishes stores its outputs and
// a run-cache entry (so a later run resumes) and moves them into the workspace. What
// was at a datum's output paths is set aside before its command runs (which may
// write its outputs in place, as DVC's do), and the undo log puts it back if the run
// does not commit: a failed or cancelled run leaves the workspace as it found it.
import fs from 'node:fs';
import path from 'node:path';
import type { Repo } from '../repo/repo.js';
import { restoreFile } from '../repo/fileio.js';
import type { StoredFile } from '../repo/types.js';
import { inPlaceTargets } from './executor.js';
import type { Executors } from './executors/index.js';
import { isUnder } from './paths.js';
import type { HookResult } from './hooks.js';
import type { PipelineStore } from './records.js';
import type { RunWorkspace } from './run-workspace.js';
import { runIngestor } from './run-ingest.js';
import { changedState } from './state.js';
import { runPool, runWithRetries, Slots, type RetriedResult } from './scheduler.js';
import type {
  DatumPlan, DatumRunRecord, DatumState, Params, RunCacheEntry, StageConfig, StagePlan, StageRunRecord, StageState,
} from './types.js';

export type StoredOutput = StoredFile & { mode: number };

export type RunEvent =
  | { type: 'plan'; stage: string; plan: StagePlan }
  | { type: 'start'; stage: string; datum: string }
  | { type: 'retry'; stage: string; datum: string; attempt: number; error: string | null; delayMs: number }
  | { type: 'done'; stage: string; datum: string; status: DatumRunRecord['status']; durationMs: number; error: string | null }
  | { type: 'stage'; stage: string; status: StageRunRecord['status']; counts: StageRunRecord['counts'] }
  | { type: 'commit'; commit: string }
  | { type: 'hook'; hook: HookResult };

/** What stays the same for every stage of one run. */
export interface RunSettings {
  runId: string;
  params: Params;
  jobs: number;
  keepGoing: boolean;
  retryBaseDelayMs?: number;
  signal?: AbortSignal;
  emit: (e: RunEvent) => void;
  /** Told about each datum that finished, with its log: what `dv runs logs` shows while the run goes on. */
  journal?: (e: { stage: string; datum: string; status: string; log: string | null }) => void;
  /** Datums other runs of this process are running, by cache key (dv exp run -j N). */
  inflight?: Map<string, Promise<unknown>>;
}

export interface StageContext {
  repo: Repo;
  store: PipelineStore;
  executors: Executors;
  settings: RunSettings;
  /** The workspace as the run has changed it so far. */
  ws: RunWorkspace;
}

export interface StageOutcome {
  ok: boolean;
  cancelled: boolean;
  record: StageRunRecord;
  state: StageState;
  error: string | null;
}

type RunPlan = Extract<DatumPlan, { action: 'run' }>;

interface Staged {
  path: string;
  stored: StoredOutput;
  /** Already where it belongs (a datum that ran); run-cache hits are restored from the store. */
  inPlace?: boolean;
}

/** One queue for the ingestor: it reuses a single buffer, so stores must not interleave. */
function serial(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const next = tail.then(fn, fn);
    tail = next.catch(() => undefined);
    return next;
  };
}

export function formatLog(cmd: string, r: RetriedResult): string {
  const lines = [`$ ${cmd}`];
  for (const a of r.attempts) lines.push(`# attempt ${a.attempt}: ${a.error ?? 'ok'} (${a.durationMs} ms)`);
  if (r.truncated) lines.push('# output truncated to its last bytes');
  lines.push('--- stdout ---', r.stdout.toString('utf8'), '--- stderr ---', r.stderr.toString('utf8'));
  return lines.join('\n');
}

function datumRecord(d: RunPlan, fields: Partial<DatumRunRecord>): DatumRunRecord {
  return {
    id: d.datum.id, status: 'succeeded', reasons: d.reasons, cmd: d.cmd, cacheKey: d.cacheKey,
    inputHash: d.datum.inputHash, deps: d.deps, outputs: {}, exitCode: null, attempts: 0, durationMs: 0,
    log: null, error: null, ...fields,
  };
}

function datumState(d: RunPlan, outputs: Record<string, string>, run: string): DatumState {
  return { inputHash: d.datum.inputHash, deps: d.deps, params: d.params, cmd: d.cmd, outputs, cacheKey: d.cacheKey, run };
}

/** The mutable result of one stage while its datums finish. */
class StageProgress {
  readonly records: DatumRunRecord[] = [];
  readonly staged: Staged[] = [];
  readonly counts: StageRunRecord['counts'];
  /** Datums set or removed (null) against the previous state. */
  private readonly changes = new Map<string, DatumState | null>();
  constructor(plan: StagePlan, private readonly previous: StageState | undefined) {
    this.counts = { run: 0, cached: 0, reused: plan.counts.reuse, removed: 0, failed: 0 };
  }

  set(id: string, st: DatumState): void {
    this.changes.set(id, st);
  }

  remove(id: string): void {
    this.changes.set(id, null);
  }

  /** The stage's state now (the previous datums themselves when nothing changed). */
  state(fp: string | undefined): StageState {
    const from = this.previous?.datums ?? {};
    if (this.changes.size === 0) return { datums: from, ...(fp ? { fp } : {}) };
    return changedState(from, this.changes, fp);
  }
}

/** Run-cache hits are staged for restoring; the datums left are returned to run. */
async function takeCached(ctx: StageContext, stage: StageConfig, plan: StagePlan, p: StageProgress): Promise<RunPlan[]> {
  const toRun: RunPlan[] = [];
  for (const d of plan.datums) {
    if (d.action !== 'run') continue;
    const entry = d.cached ? await ctx.store.readCacheEntry(d.cacheKey) : null;
    if (!entry) {
      toRun.push(d);
      continue;
    }
    takeEntry(ctx, stage, d, entry, p);
  }
  return toRun;
}

/** A datum's outputs come from a run-cache entry: staged for restoring, recorded as cached. */
function takeEntry(ctx: StageContext, stage: StageConfig, d: RunPlan, entry: RunCacheEntry, p: StageProgress): void {
  const hashes = Object.fromEntries(Object.entries(entry.outputs).map(([o, e]) => [o, e.hash]));
  for (const [o, e] of Object.entries(entry.outputs)) p.staged.push({ path: o, stored: e });
  p.set(d.datum.id, datumState(d, hashes, entry.run));
  p.records.push(datumRecord(d, { status: 'cached', outputs: hashes }));
  p.counts.cached++;
  ctx.settings.emit({ type: 'done', stage: stage.name, datum: d.datum.id, status: 'cached', durationMs: 0, error: null });
}

/**
 * Runs `fn` unless another run of this process is running the same cache key: then
 * waits for it and returns its run-cache entry instead (experiments sharing a stage).
 */
async function once(ctx: StageContext, key: string, fn: () => Promise<boolean>): Promise<RunCacheEntry | boolean> {
  const inflight = ctx.settings.inflight;
  if (!inflight) return fn();
  const other = inflight.get(key);
  if (other) {
    await other;
    const entry = await ctx.store.readCacheEntry(key);
    if (entry) return entry;
  }
  let release!: () => void;
  inflight.set(key, new Promise<void>((r) => { release = r; }));
  try {
    return await fn();
  } finally {
    inflight.delete(key);
    release();
  }
}

/**
 * Runs one datum (with retries), stores its outputs and a run-cache entry; false when it
 * failed. At most `concurrency` commands run at once; setting a datum's outputs aside
 * and storing what it wrote happen outside that limit, alongside another's command.
 */
function datumRunner(ctx: StageContext, stage: StageConfig, previous: StageState | undefined, p: StageProgress,
  concurrency: number): (d: RunPlan) => Promise<boolean> {
  const { store, settings: s } = ctx;
  const slots = new Slots(concurrency);
  /** A command failed (without --keep-going): datums still waiting for a slot do not start. */
  let halted = false;
  /**
   * The datum's command, run while it holds a slot (taken when the executor is ready to
   * start it: Job.turn); null when the stage stopped before its turn.
   */
  const command = async (d: RunPlan): Promise<RetriedResult | null> => {
    const executor = ctx.executors.for(stage);
    let held = false;
    let go = false;
    const turn = async (): Promise<boolean> => {
      if (held) return go;
      await slots.acquire();
      held = true;
      go = !halted && !s.signal?.aborted;
      if (go) s.emit({ type: 'start', stage: stage.name, datum: d.datum.id });
      return go;
    };
    let ok = false;
    try {
      if (!executor.prepares && !(await turn())) return null;
      const r = await runWithRetries(executor, { runId: s.runId, stage, datum: d.datum, params: s.params, inPlace: true, cacheKey: d.cacheKey, turn },
        { retries: stage.retries, baseDelayMs: s.retryBaseDelayMs }, s.signal,
        (f, delayMs) => s.emit({ type: 'retry', stage: stage.name, datum: d.datum.id, attempt: f.attempt, error: f.error, delayMs }));
      if (held && !go) { // its turn came after the stage stopped: it never started
        await r.dispose();
        return null;
      }
      ok = r.status === 'succeeded';
      return r;
    } finally {
      // Decided before the slot passes on, so that no command starts after a failure.
      if (!ok && !s.keepGoing && !(held && !go)) halted = true;
      if (held) slots.release();
    }
  };
  const ingest = runIngestor(ctx.repo);
  const serialized = serial();
  const done = (d: RunPlan, status: DatumRunRecord['status'], durationMs: number, error: string | null): void =>
    s.emit({ type: 'done', stage: stage.name, datum: d.datum.id, status, durationMs, error });
  const run = async (d: RunPlan): Promise<boolean> => {
    let r: RetriedResult | null = null;
    try {
      // The command may write its outputs in place: what is there now goes aside first.
      const mine = new Set([...inPlaceTargets(stage, d.datum), ...Object.keys(previous?.datums[d.datum.id]?.outputs ?? {})]);
      for (const o of mine) ctx.ws.setAside(o, stage.persist.some((q) => isUnder(o, q)));
      r = await command(d);
      if (r === null) return false;
      const text = r.stdout.length || r.stderr.length || r.status !== 'succeeded' ? formatLog(d.cmd, r) : null;
      const log = text === null ? null : await store.writeLog(text);
      s.journal?.({ stage: stage.name, datum: d.datum.id, status: r.status, log: text });
      const base = { exitCode: r.exitCode, attempts: r.attempts.length, durationMs: r.attempts.reduce((n, a) => n + a.durationMs, 0), log, startedAt: r.attempts[0]?.startedAt ?? r.startedAt,
        ...(r.engineJob ? { engineJob: r.engineJob } : {}) };
      if (r.status !== 'succeeded') {
        const status = r.status === 'cancelled' ? 'cancelled' : 'failed';
        p.records.push(datumRecord(d, { ...base, status, error: r.error }));
        done(d, status, base.durationMs, r.error);
        return false;
      }
      const result = r;
      const outputs: RunCacheEntry['outputs'] = {};
      await serialized(async () => {
        for (const o of result.outputs) outputs[o.path] = { ...(await ingest.storeFile(o.file, undefined, o.size)), mode: o.mode };
      });
      await store.writeCacheEntry({ format: 1, key: d.cacheKey, stage: stage.name, run: s.runId, outputs });
      // Into place at once (what was there is set aside above; the undo log puts it back
      // if the run does not commit), so the executor can reuse the job's scratch space.
      for (const o of r.outputs) {
        if (!o.inPlace) placeFile(ctx.ws, o.path, o.file);
        p.staged.push({ path: o.path, stored: outputs[o.path]!, inPlace: true });
      }
      await r.dispose();
      const hashes = Object.fromEntries(Object.entries(outputs).map(([o, e]) => [o, e.hash]));
      p.set(d.datum.id, datumState(d, hashes, s.runId));
      p.records.push(datumRecord(d, { ...base, outputs: hashes }));
      p.counts.run++;
      done(d, 'succeeded', base.durationMs, null);
      return true;
    } catch (e) {
      await r?.dispose();
      const error = `dv: ${(e as Error).message}`;
      p.records.push(datumRecord(d, { status: 'failed', error }));
      done(d, 'failed', 0, error);
      return false;
    }
  };
  return async (d: RunPlan): Promise<boolean> => {
    const r = await once(ctx, d.cacheKey, () => run(d));
    if (typeof r === 'boolean') return r;
    takeEntry(ctx, stage, d, r, p);
    return true;
  };
}

/** Paths a stage may write: its outs (foreach: each datum its own part, checked by the executor). */
function mayWrite(stage: StageConfig): (rel: string) => boolean {
  return (rel) => stage.outs.some((o) => isUnder(rel, o));
}

export async function runStage(ctx: StageContext, stage: StageConfig, plan: StagePlan, previous: StageState | undefined): Promise<StageOutcome> {
  const { emit, signal, params } = ctx.settings;
  const p = new StageProgress(plan, previous);
  const toRun = await takeCached(ctx, stage, plan, p);
  const reads = toRun.length > 0 ? ctx.ws.watch(stage.deps, toRun.flatMap((d) => (d.datum.input === null ? [] : [d.datum.input]))) : null;
  const executor = ctx.executors.for(stage);
  const concurrency = executor.inFlight?.(stage, ctx.settings.jobs) ?? ctx.settings.jobs;
  // One datum more than commands in flight: while the commands run, it is made ready (its
  // outputs set aside, its scratch space and environment) and the last one's outputs stored.
  const pool = await runPool(toRun, datumRunner(ctx, stage, previous, p, concurrency),
    { concurrency: concurrency + 1, signal, keepGoing: ctx.settings.keepGoing, isFailure: (ok) => !ok });

  const failed = p.records.filter((r) => r.status === 'failed' || r.status === 'cancelled');
  p.counts.failed = failed.length;
  const cancelled = signal?.aborted === true;
  let error: string | null = null;
  if (pool.failed || cancelled || failed.length > 0) {
    const first = failed.find((r) => r.status === 'failed') ?? failed[0];
    error = first ? `stage ${stage.name}: ${first.id ? `datum ${first.id}: ` : ''}${first.error}` : `stage ${stage.name}: cancelled`;
  } else if (reads) {
    const stray = ctx.ws.strayWrites(reads, mayWrite(stage));
    if (stray.length > 0) {
      const shown = stray.slice(0, 5).join(', ') + (stray.length > 5 ? ` and ${stray.length - 5} more` : '');
      error = `stage ${stage.name}: wrote outside its declared outs: ${shown} (declare them in outs, or write them elsewhere)`;
    }
  }
  if (error !== null) {
    emit({ type: 'stage', stage: stage.name, status: 'failed', counts: p.counts });
    return { ok: false, cancelled, error, state: previous ?? { datums: {} }, record: stageRecord(stage, params, 'failed', p.counts, p.records) };
  }

  await applyOutputs(ctx, plan, previous, p.staged);
  for (const d of plan.datums) {
    if (d.action !== 'remove') continue;
    p.remove(d.datumId);
    p.records.push({
      id: d.datumId, status: 'removed', reasons: [{ code: 'input-deleted', detail: d.datumId }], cmd: '', cacheKey: '',
      inputHash: null, deps: {}, outputs: {}, exitCode: null, attempts: 0, durationMs: 0, log: null, error: null,
    });
    p.counts.removed++;
  }
  emit({ type: 'stage', stage: stage.name, status: 'succeeded', counts: p.counts });
  return { ok: true, cancelled: false, error: null, state: p.state(plan.fp), record: stageRecord(stage, params, 'succeeded', p.counts, p.records) };
}

function stageRecord(stage: StageConfig, params: Params, status: StageRunRecord['status'], counts: StageRunRecord['counts'],
  datums: DatumRunRecord[]): StageRunRecord {
  const used: Params = {};
  for (const p of stage.params) used[p] = params[p] ?? null;
  datums.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { name: stage.name, cmd: stage.cmd, params: used, status, counts, datums };
}

/** Renames `file` to `rel` in the workspace, what was there set aside. */
function placeFile(ws: RunWorkspace, rel: string, file: string): void {
  const dest = path.join(ws.root, rel);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  ws.setAside(rel);
  fs.rmSync(dest, { recursive: true, force: true }); // an earlier stage's output of this run
  fs.renameSync(file, dest);
}

/** Deletes outputs of removed datums and stale outputs of re-run ones, then restores run-cache hits. */
async function applyOutputs(ctx: StageContext, plan: StagePlan, previous: StageState | undefined, staged: Staged[]): Promise<void> {
  const { repo, ws } = ctx;
  const placed = new Set(staged.map((s) => s.path));
  const doomed = new Set<string>();
  for (const d of plan.datums) {
    if (d.action === 'remove') d.outputs.forEach((o) => doomed.add(o));
    if (d.action === 'run') {
      for (const o of Object.keys(previous?.datums[d.datum.id]?.outputs ?? {})) if (!placed.has(o)) doomed.add(o);
    }
  }
  for (const p of doomed) {
    ws.setAside(p);
    ws.deleted(p);
  }
  for (const s of staged) {
    const dest = path.join(ws.root, s.path);
    if (!s.inPlace && (ws.files.get(s.path) !== s.stored.hash || !fs.existsSync(dest))) {
      ws.setAside(s.path);
      await restoreFile(repo.blobs, s.stored, dest, s.stored.mode, s.path);
    }
    ws.placed(s.path, s.stored);
  }
}

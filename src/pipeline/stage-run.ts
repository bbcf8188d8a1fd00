// Executes one planned stage: restores run-cache hits, runs the rest through the
// executor with retries and -j N, stores every output and a run-cache entry as each
// datum finishes (so a later run resumes), and only when the whole stage succeeded
// moves the outputs into the workspace.
import fs from 'node:fs';
import path from 'node:path';
import type { Repo } from '../repo/repo.js';
import { restoreFile } from '../repo/fileio.js';
import type { StoredFile } from '../repo/types.js';
import { fileMode, type StatCache } from '../repo/workspace.js';
import type { Executor } from './executor.js';
import type { PipelineStore } from './records.js';
import type { WorkspaceUndo } from './undo.js';
import { runPool, runWithRetries, type RetriedResult } from './scheduler.js';
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
  | { type: 'commit'; commit: string };

export interface StageContext {
  repo: Repo;
  store: PipelineStore;
  executor: Executor;
  runId: string;
  params: Params;
  jobs: number;
  keepGoing: boolean;
  retryBaseDelayMs?: number;
  signal?: AbortSignal;
  emit: (e: RunEvent) => void;
  /** Current content of every known workspace path; updated as outputs land. */
  files: Map<string, string>;
  /** Stored content of workspace paths (null = deleted), for the commit. */
  contents: Map<string, StoredOutput | null>;
  /** Saved by the caller once the run's packs are sealed. */
  statCache: StatCache;
  /** Work left running in the background; the caller awaits it before returning. */
  cleanup: Promise<unknown>[];
  /** What the run replaced in the workspace, to put back if it does not commit. */
  undo: WorkspaceUndo;
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
  /** A file to rename into place; absent for run-cache hits (restored from the store). */
  file?: string;
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

export async function runStage(ctx: StageContext, stage: StageConfig, plan: StagePlan, previous: StageState | undefined): Promise<StageOutcome> {
  const { repo, store, emit } = ctx;
  const states: Record<string, DatumState> = { ...(previous?.datums ?? {}) };
  const records: DatumRunRecord[] = [];
  const staged: Staged[] = [];
  const disposers: (() => Promise<void>)[] = [];
  const counts = { run: 0, cached: 0, reused: plan.counts.reuse, removed: 0, failed: 0 };
  const toRun: RunPlan[] = [];

  for (const d of plan.datums) {
    if (d.action !== 'run') continue;
    const entry = d.cached ? await store.readCacheEntry(d.cacheKey) : null;
    if (!entry) {
      toRun.push(d);
      continue;
    }
    const hashes = Object.fromEntries(Object.entries(entry.outputs).map(([p, o]) => [p, o.hash]));
    for (const [p, o] of Object.entries(entry.outputs)) staged.push({ path: p, stored: o });
    states[d.datum.id] = datumState(d, hashes, entry.run);
    records.push(datumRecord(d, { status: 'cached', outputs: hashes }));
    counts.cached++;
    emit({ type: 'done', stage: stage.name, datum: d.datum.id, status: 'cached', durationMs: 0, error: null });
  }

  const ingest = repo.ingestor();
  const serialized = serial();
  const work = async (d: RunPlan): Promise<boolean> => {
    emit({ type: 'start', stage: stage.name, datum: d.datum.id });
    let r: RetriedResult | null = null;
    try {
      r = await runWithRetries(ctx.executor, { runId: ctx.runId, stage, datum: d.datum, params: ctx.params },
        { retries: stage.retries, baseDelayMs: ctx.retryBaseDelayMs }, ctx.signal,
        (f, delayMs) => emit({ type: 'retry', stage: stage.name, datum: d.datum.id, attempt: f.attempt, error: f.error, delayMs }));
      const log = r.stdout.length || r.stderr.length || r.status !== 'succeeded' ? await store.writeLog(formatLog(d.cmd, r)) : null;
      const base = { exitCode: r.exitCode, attempts: r.attempts.length, durationMs: r.attempts.reduce((s, a) => s + a.durationMs, 0), log };
      if (r.status !== 'succeeded') {
        records.push(datumRecord(d, { ...base, status: r.status === 'cancelled' ? 'cancelled' : 'failed', error: r.error }));
        emit({ type: 'done', stage: stage.name, datum: d.datum.id, status: r.status === 'cancelled' ? 'cancelled' : 'failed', durationMs: base.durationMs, error: r.error });
        return false;
      }
      const result = r;
      const outputs: RunCacheEntry['outputs'] = {};
      await serialized(async () => {
        for (const o of result.outputs) outputs[o.path] = { ...(await ingest.storeFile(o.file)), mode: o.mode };
      });
      await store.writeCacheEntry({ format: 1, key: d.cacheKey, stage: stage.name, run: ctx.runId, outputs });
      for (const o of r.outputs) staged.push({ path: o.path, stored: outputs[o.path]!, file: o.file });
      disposers.push(r.dispose);
      const hashes = Object.fromEntries(Object.entries(outputs).map(([p, o]) => [p, o.hash]));
      states[d.datum.id] = datumState(d, hashes, ctx.runId);
      records.push(datumRecord(d, { ...base, outputs: hashes }));
      counts.run++;
      emit({ type: 'done', stage: stage.name, datum: d.datum.id, status: 'succeeded', durationMs: base.durationMs, error: null });
      return true;
    } catch (e) {
      await r?.dispose();
      const error = `dv: ${(e as Error).message}`;
      records.push(datumRecord(d, { status: 'failed', error }));
      emit({ type: 'done', stage: stage.name, datum: d.datum.id, status: 'failed', durationMs: 0, error });
      return false;
    }
  };
  const pool = await runPool(toRun, work, { concurrency: ctx.jobs, signal: ctx.signal, keepGoing: ctx.keepGoing, isFailure: (ok) => !ok });

  const failed = records.filter((r) => r.status === 'failed' || r.status === 'cancelled');
  counts.failed = failed.length;
  const cancelled = ctx.signal?.aborted === true;
  if (pool.failed || cancelled || failed.length > 0) {
    await Promise.all(disposers.map((f) => f()));
    const first = failed.find((r) => r.status === 'failed') ?? failed[0];
    const error = first ? `stage ${stage.name}: ${first.id ? `datum ${first.id}: ` : ''}${first.error}` : `stage ${stage.name}: cancelled`;
    emit({ type: 'stage', stage: stage.name, status: 'failed', counts });
    return { ok: false, cancelled, error, state: previous ?? { datums: {} }, record: stageRecord(stage, ctx.params, 'failed', counts, records) };
  }

  try {
    await applyOutputs(ctx, plan, previous, staged);
  } finally {
    // Emptied scratch directories go while the next stage or the commit proceeds.
    for (const f of disposers) ctx.cleanup.push(f().catch(() => undefined));
  }
  for (const d of plan.datums) {
    if (d.action !== 'remove') continue;
    delete states[d.datumId];
    records.push({
      id: d.datumId, status: 'removed', reasons: [{ code: 'input-deleted', detail: d.datumId }], cmd: '', cacheKey: '',
      inputHash: null, deps: {}, outputs: {}, exitCode: null, attempts: 0, durationMs: 0, log: null, error: null,
    });
    counts.removed++;
  }
  emit({ type: 'stage', stage: stage.name, status: 'succeeded', counts });
  return { ok: true, cancelled: false, error: null, state: { datums: states }, record: stageRecord(stage, ctx.params, 'succeeded', counts, records) };
}

function stageRecord(stage: StageConfig, params: Params, status: StageRunRecord['status'], counts: StageRunRecord['counts'],
  datums: DatumRunRecord[]): StageRunRecord {
  const used: Params = {};
  for (const p of stage.params) used[p] = params[p] ?? null;
  datums.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { name: stage.name, cmd: stage.cmd, params: used, status, counts, datums };
}

/** Deletes outputs of removed datums and stale outputs of re-run ones, then places the new ones. */
async function applyOutputs(ctx: StageContext, plan: StagePlan, previous: StageState | undefined, staged: Staged[]): Promise<void> {
  const { repo, files, contents } = ctx;
  const placed = new Set(staged.map((s) => s.path));
  const doomed = new Set<string>();
  for (const d of plan.datums) {
    if (d.action === 'remove') d.outputs.forEach((o) => doomed.add(o));
    if (d.action === 'run') {
      for (const o of Object.keys(previous?.datums[d.datum.id]?.outputs ?? {})) if (!placed.has(o)) doomed.add(o);
    }
  }
  for (const p of doomed) {
    ctx.undo.setAside(p);
    files.delete(p);
    contents.set(p, null);
  }
  const recorded: Parameters<StatCache['record']>[0] = [];
  for (const s of staged) {
    const dest = path.join(repo.root, s.path);
    if (s.file) {
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      ctx.undo.setAside(s.path);
      fs.rmSync(dest, { recursive: true, force: true }); // an earlier stage's output of this run
      fs.renameSync(s.file, dest);
    } else if (files.get(s.path) !== s.stored.hash || !fs.existsSync(dest)) {
      ctx.undo.setAside(s.path);
      await restoreFile(repo.blobs, s.stored, dest, s.stored.mode, s.path);
    }
    files.set(s.path, s.stored.hash);
    contents.set(s.path, s.stored);
    const st = fs.statSync(dest);
    recorded.push({ file: { path: s.path, size: st.size, mtime: st.mtimeMs, ino: st.ino, mode: fileMode(st.mode) }, hash: s.stored.hash });
  }
  ctx.statCache.record(recorded);
}

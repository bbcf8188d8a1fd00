// Decides, per datum, whether to run, reuse or remove outputs. Pure: the caller
// supplies the content hashes (from the stat cache) and the previous state. Stages
// are planned one at a time, after their upstream stages ran, from the hashes those
// actually produced: identical outputs upstream plan nothing downstream.
import { DvError } from '../store/errors.js';
import { blake3Hex } from '../store/hash.js';
import { lowerBound } from '../store/sorted.js';
import { interpolate, type Bindings } from './interpolate.js';
import { isUnder, matcher } from './paths.js';
import { datumWanted } from './targets.js';
import type {
  Backfill, Datum, DatumPlan, DatumState, Params, Reason, StageConfig, StagePlan, StageState,
} from './types.js';

/** Path -> file checksum for every file the stage may read or own. */
export type FileHashes = ReadonlyMap<string, string>;

/** Paths (files or directories) an upstream stage is about to rewrite -> that stage. */
export type Pending = ReadonlyMap<string, string>;

export interface PlanStageInput {
  stage: StageConfig;
  /** Effective params (file values with -p overrides applied). */
  params: Params;
  files: FileHashes;
  previous?: StageState;
  force?: boolean;
  backfill?: Backfill | null;
  /** Dry runs only: outputs that upstream stages would rewrite. */
  pending?: Pending;
  /** Whether the run-cache holds an entry for a key. */
  hasCache?: (key: string) => boolean;
  /** Run only the datums whose path below the glob base matches one of these (dv run PATH). */
  only?: string[];
}

/** Sorted view of a FileHashes snapshot, built once per stage plan (the map changes between stages). */
export class FileIndex {
  readonly sorted: string[];
  constructor(readonly files: FileHashes) {
    this.sorted = [...files.keys()].sort();
  }

  /** Files at or under `path`, in sorted order. */
  under(path: string): string[] {
    if (this.files.has(path)) return [path];
    const out: string[] = [];
    const keys = this.sorted;
    for (let i = lowerBound(keys, path + '/'); i < keys.length && keys[i]!.startsWith(path + '/'); i++) out.push(keys[i]!);
    return out;
  }

  /** A file's checksum, or for a directory the hash of its sorted (path, checksum) list; '' if absent. */
  hash(path: string): string {
    const direct = this.files.get(path);
    if (direct !== undefined) return direct;
    const under = this.under(path);
    if (under.length === 0) return '';
    return blake3Hex(JSON.stringify(under.map((p) => [p.slice(path.length + 1), this.files.get(p)!])));
  }
}

export function pathHash(files: FileHashes, path: string): string {
  return new FileIndex(files).hash(path);
}

function sortedEntries<T>(r: Record<string, T>): [string, T][] {
  return Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export interface CacheKeyParts {
  cmd: string;
  env: Record<string, string>;
  input: string | null;
  inputHash: string | null;
  deps: Record<string, string>;
  params: Params;
  outs: string[];
}

/** Run-cache key: BLAKE3 over a canonical JSON array; field order is part of the format. */
export function runCacheKey(p: CacheKeyParts): string {
  return cacheKeys(p.deps, p.params)(p.cmd, p.env, p.input, p.inputHash, p.outs);
}

/**
 * runCacheKey with the stage's deps and params encoded once: the same JSON array,
 * built from its parts (a stage plans thousands of datums with the same deps).
 */
function cacheKeys(deps: Record<string, string>, params: Params):
  (cmd: string, env: Record<string, string>, input: string | null, inputHash: string | null, outs: string[]) => string {
  const tail = `,${JSON.stringify(sortedEntries(deps))},${JSON.stringify(sortedEntries(params))},`;
  return (cmd, env, input, inputHash, outs) => blake3Hex(
    `["dv-run-cache/1",${JSON.stringify(cmd)},${JSON.stringify(sortedEntries(env))},${JSON.stringify(input)},${JSON.stringify(inputHash)}${tail}${JSON.stringify([...outs].sort())}]`);
}

/**
 * What a datum's cmd and run-cache key depend on besides its own input (path and
 * content): the stage's definition, its deps' hashes and the params. Equal
 * fingerprints and an unchanged input mean the cmd and key recorded are still right.
 * The version goes up whenever interpolation or the key's recipe changes.
 */
export function planFingerprint(stage: StageConfig, deps: Record<string, string>, params: Params): string {
  return blake3Hex(JSON.stringify([
    'dv-plan-fp/1', stage.name, stage.cmd, sortedEntries(stage.env), stage.foreach, stage.foreachBase,
    stage.partition?.pattern ?? null, stage.outs, stage.deps, sortedEntries(deps), sortedEntries(params),
  ]));
}

/** The partition key of a path, or null when the pattern does not match. */
export function partitionKey(stage: StageConfig, path: string): string | null {
  if (!stage.partition) return null;
  const m = stage.partition.regex.exec(path);
  if (!m) return null;
  return m.groups?.key ?? m[1] ?? m[0];
}

/** The datums of a stage over the current files, sorted by id. */
export function datumsOf(stage: StageConfig, files: FileHashes | FileIndex): Datum[] {
  const index = files instanceof FileIndex ? files : new FileIndex(files);
  if (stage.foreach === null) {
    return [{ id: '', input: null, inputHash: null, rel: null, key: null, out: stage.outs.length === 1 ? stage.outs[0]! : null }];
  }
  const match = matcher(stage.foreach);
  const base = stage.foreachBase ?? '';
  const candidates = base === '' ? index.sorted : index.under(base);
  const out: Datum[] = [];
  for (const p of candidates) {
    if (!match(p)) continue;
    const rel = base === '' ? p : p.slice(base.length + 1);
    out.push({ id: p, input: p, inputHash: index.files.get(p)!, rel, key: partitionKey(stage, p), out: `${stage.outs[0]}/${rel}` });
  }
  return out;
}

/** Builtin bindings for a datum with workspace paths (what keys and states record). */
export function workspaceBindings(stage: StageConfig, datum: Datum, params: Params): Bindings {
  const name = datum.input === null ? null : datum.input.slice(datum.input.lastIndexOf('/') + 1);
  const dot = name === null ? -1 : name.lastIndexOf('.');
  return {
    stage: stage.name,
    in: datum.input,
    out: datum.out,
    outdir: stage.foreach !== null ? stage.outs[0]! : null,
    datum: datum.rel,
    name,
    stem: name === null ? null : dot > 0 ? name.slice(0, dot) : name,
    key: datum.key,
    outs: stage.outs,
    deps: stage.deps,
    params,
  };
}

function stageParams(stage: StageConfig, params: Params): Params {
  const out: Params = {};
  for (const p of stage.params) out[p] = params[p] ?? null;
  return out;
}

/** The upstream stage rewriting `path` (or a directory holding it, or, for a directory, something under it). */
function pendingFor(path: string, pending: Pending | undefined, mayBeDir: boolean): string | null {
  if (!pending || pending.size === 0) return null;
  const exact = pending.get(path);
  if (exact !== undefined) return exact;
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const s = pending.get(path.slice(0, i));
    if (s !== undefined) return s;
  }
  if (mayBeDir) for (const [p, s] of pending) if (isUnder(p, path)) return s;
  return null;
}

function compare(prev: DatumState, datum: Datum, deps: Record<string, string>, params: Params, cmd: string,
  key: string, files: FileHashes): Reason[] {
  const reasons: Reason[] = [];
  if (prev.inputHash !== datum.inputHash) reasons.push({ code: 'input-changed', detail: datum.input ?? undefined });
  for (const d of new Set([...Object.keys(deps), ...Object.keys(prev.deps)])) {
    if (deps[d] !== prev.deps[d]) reasons.push({ code: 'dep-changed', detail: d });
  }
  for (const p of new Set([...Object.keys(params), ...Object.keys(prev.params)])) {
    if (params[p] !== prev.params[p]) reasons.push({ code: 'param-changed', detail: p });
  }
  if (prev.cmd !== cmd) reasons.push({ code: 'cmd-changed' });
  for (const [o, h] of Object.entries(prev.outputs)) {
    const now = files.get(o);
    if (now === undefined) reasons.push({ code: 'output-missing', detail: o });
    else if (now !== h) reasons.push({ code: 'output-changed', detail: o });
  }
  if (reasons.length === 0 && prev.cacheKey !== key) reasons.push({ code: 'config-changed' });
  return reasons;
}

/** The datum's recorded outputs are in the workspace with the content recorded. */
function outputsIntact(prev: DatumState, files: FileHashes): boolean {
  for (const o in prev.outputs) if (files.get(o) !== prev.outputs[o]) return false;
  return true;
}

function inRange(key: string | null, b: Backfill): boolean {
  return key !== null && (b.from === '' || key >= b.from) && (b.to === '' || key <= b.to);
}

export function planStage(input: PlanStageInput): StagePlan {
  const { stage, files, previous, force = false, backfill = null, pending, hasCache, only } = input;
  if (backfill && !stage.partition) throw new DvError(`stage ${stage.name}: --backfill needs a partition pattern in dv.yaml`);
  const params = stageParams(stage, input.params);
  const prevDatums = previous?.datums ?? {};
  const index = new FileIndex(files);
  const deps: Record<string, string> = {};
  const depReasons: Reason[] = [];
  for (const d of stage.deps) {
    deps[d] = index.hash(d);
    const by = pendingFor(d, pending, true);
    if (by !== null) depReasons.push({ code: 'dep-pending', detail: `${d} (stage ${by})` });
  }
  const env = (b: Bindings): Record<string, string> =>
    Object.fromEntries(Object.entries(stage.env).map(([k, v]) => [k, interpolate(v, b, 'raw')]));

  // Datums whose input and outputs are as the state has them are reused without
  // interpolating their command or hashing their key, when the state was planned under
  // this fingerprint (and nothing asks for more: --force, always_changed, pending upstream).
  const fp = planFingerprint(stage, deps, input.params);
  const quick = previous?.fp === fp && !force && !backfill && !stage.alwaysChanged && !(pending && pending.size > 0);
  const keyOf = cacheKeys(deps, params);
  const runs: DatumPlan[] = [];
  const reuses: DatumPlan[] = [];
  const current = datumsOf(stage, index);
  for (const datum of current) {
    const prev = prevDatums[datum.id];
    if (only && !datumWanted(only, datum.rel)) {
      if (prev) reuses.push({ action: 'reuse', datum, state: prev });
      continue;
    }
    if (stage.frozen) {
      // DVC's frozen: never run; what the last run produced stands.
      if (prev) reuses.push({ action: 'reuse', datum, state: prev });
      continue;
    }
    if (backfill && !inRange(datum.key, backfill)) {
      if (prev) reuses.push({ action: 'reuse', datum, state: prev });
      continue;
    }
    if (quick && prev && prev.inputHash === datum.inputHash && outputsIntact(prev, files)) {
      reuses.push({ action: 'reuse', datum, state: prev });
      continue;
    }
    const b = workspaceBindings(stage, datum, input.params);
    const cmd = interpolate(stage.cmd, b, 'shell');
    const outs = datum.out !== null && stage.foreach !== null ? [stage.outs[0]!, datum.out] : stage.outs;
    const cacheKey = keyOf(cmd, env(b), datum.input, datum.inputHash, outs);
    let reasons: Reason[];
    if (backfill) reasons = [{ code: 'backfill', detail: datum.key ?? undefined }];
    else if (!prev) reasons = [{ code: datum.input === null ? 'first-run' : 'new-input', detail: datum.input ?? undefined }];
    else reasons = compare(prev, datum, deps, params, cmd, cacheKey, files);
    if (!backfill) {
      const by = datum.input === null ? null : pendingFor(datum.input, pending, false);
      if (by !== null) reasons.push({ code: 'dep-pending', detail: `${datum.input} (stage ${by})` });
      reasons.push(...depReasons);
    }
    if (stage.alwaysChanged && reasons.length === 0) reasons.push({ code: 'always-changed' });
    if (force) reasons.unshift({ code: 'forced' });
    if (reasons.length === 0) {
      reuses.push({ action: 'reuse', datum, state: prev! });
      continue;
    }
    // A cache claim is only sound when every input is known now, not rewritten upstream.
    const cached = !force && !backfill && !reasons.some((r) => r.code === 'dep-pending') && (hasCache?.(cacheKey) ?? false);
    runs.push({ action: 'run', datum, reasons, cmd, cacheKey, deps, params, cached });
  }

  const removes: DatumPlan[] = [];
  if (!backfill && !stage.frozen && !only) {
    const ids = new Set(current.map((d) => d.id));
    for (const [id, st] of Object.entries(prevDatums).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!ids.has(id)) removes.push({ action: 'remove', datumId: id, outputs: Object.keys(st.outputs).sort() });
    }
  }
  if (backfill) {
    const dir = backfill.order === 'newest' ? -1 : 1;
    runs.sort((a, b) => {
      const ka = (a as { datum: Datum }).datum.key!;
      const kb = (b as { datum: Datum }).datum.key!;
      if (ka !== kb) return ka < kb ? -dir : dir;
      return (a as { datum: Datum }).datum.id < (b as { datum: Datum }).datum.id ? -1 : 1;
    });
  }
  const cached = runs.filter((r) => r.action === 'run' && r.cached).length;
  // Datums reused unchecked (dv run PATH, frozen, backfill) keep the fingerprint they had.
  const unchecked = !!only || stage.frozen || !!backfill;
  return {
    stage: stage.name,
    datums: [...runs, ...reuses, ...removes],
    counts: { run: runs.length - cached, cached, reuse: reuses.length, remove: removes.length },
    ...(!unchecked || previous?.fp === fp ? { fp } : {}),
  };
}

/** Parses `A..B` (either side may be empty; `A..A` for one key). */
export function parseBackfill(range: string, order: string = 'oldest'): Backfill {
  if (order !== 'newest' && order !== 'oldest') throw new DvError(`--order ${order}: expected newest or oldest`, 2);
  const i = range.indexOf('..');
  if (i < 0) throw new DvError(`--backfill ${range}: expected FROM..TO (${range}..${range} for that key alone, ${range}.. from it on)`, 2);
  const [from, to] = [range.slice(0, i), range.slice(i + 2)];
  if (from === '' && to === '') throw new DvError(`--backfill ${range}: expected FROM..TO`, 2);
  if (from !== '' && to !== '' && from > to) throw new DvError(`--backfill ${range}: ${from} sorts after ${to}`, 2);
  return { from, to, order };
}

/** Paths a stage plan will rewrite or delete, for planning downstream stages in a dry run. */
export function pendingOutputs(stage: StageConfig, plan: StagePlan, into: Map<string, string>): void {
  for (const d of plan.datums) {
    if (d.action === 'remove') d.outputs.forEach((o) => into.set(o, stage.name));
    if (d.action !== 'run') continue;
    if (d.datum.out !== null && stage.foreach !== null) into.set(d.datum.out, stage.name);
    else stage.outs.forEach((o) => into.set(o, stage.name));
  }
}

export function describeReason(r: Reason): string {
  switch (r.code) {
    case 'new-input': return 'new input';
    case 'first-run': return 'never run';
    case 'input-changed': return 'input changed';
    case 'input-deleted': return 'input deleted';
    case 'dep-changed': return `dep ${r.detail} changed`;
    case 'dep-pending': return `dep ${r.detail} runs first`;
    case 'param-changed': return `param ${r.detail} changed`;
    case 'cmd-changed': return 'command changed';
    case 'config-changed': return 'stage env or outs changed';
    case 'output-missing': return `output ${r.detail} missing`;
    case 'output-changed': return `output ${r.detail} modified`;
    case 'forced': return 'forced';
    case 'backfill': return `backfill (key ${r.detail})`;
    case 'always-changed': return 'always_changed';
  }
}

export interface PlanPipelineInput {
  /** Stages in topological order. */
  stages: StageConfig[];
  params: Params;
  files: FileHashes;
  state: Record<string, StageState | undefined>;
  force?: boolean;
  backfill?: Backfill | null;
  /** Stages the backfill applies to (the others are planned normally). */
  backfillStages?: ReadonlySet<string>;
  hasCache?: (key: string) => boolean;
  /** Stages limited to some datums (dv run PATH). */
  only?: ReadonlyMap<string, string[]>;
}

/**
 * Plans every stage against today's files, for `--dry-run`: what a stage's upstream
 * would rewrite is marked pending, since the bytes it will produce are not known yet.
 */
export function planPipeline(input: PlanPipelineInput): StagePlan[] {
  const pending = new Map<string, string>();
  return input.stages.map((stage) => {
    const plan = planStage({
      stage, params: input.params, files: input.files, previous: input.state[stage.name],
      force: input.force, hasCache: input.hasCache, pending, only: input.only?.get(stage.name),
      backfill: input.backfill && input.backfillStages?.has(stage.name) ? input.backfill : null,
    });
    pendingOutputs(stage, plan, pending);
    return plan;
  });
}

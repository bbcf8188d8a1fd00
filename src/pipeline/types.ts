// Types of the pipeline layer: the dv.yaml document once validated, datums, plans,
// the per-datum state a run leaves behind, run records and run-cache entries.
//
// dv.yaml (see README "Pipelines"):
//
//   params:                      # name -> scalar, or nested maps (addressed as a.b)
//     threshold: 0.5
//   stages:
//     clean:                     # [A-Za-z0-9_-]+
//       foreach: data/raw/*.csv  # optional: one datum per matching file
//       cmd: python3 clean.py ${in} ${out}
//       deps: [clean.py]         # files or directories the command reads
//       outs: data/clean/        # foreach: exactly one directory
//       params: [threshold]      # params whose values the command depends on
//       retries: 2               # extra attempts after a failure (backoff 2^n)
//       env: { LC_ALL: C }       # extra environment (placeholders allowed)
//       partition: 'data/raw/(?<key>\d{4}-\d{2}-\d{2})'   # or { pattern: ... }
//       after: [other]           # ordering edges not expressed by files
//       timeout: 600             # seconds per attempt
//       desc: free text
//       isolation: sandbox       # + network, identity, resources, s3 (config-sandbox.ts)
//
// Placeholders in cmd/env: ${in} ${out} ${outdir} ${datum} ${name} ${stem} ${key}
// ${outs} ${deps} ${stage} ${params.x} ${x}; $${...} is a literal ${...}.

import type { IdentityConfig, StageIsolation } from './config-sandbox.js';
import type { ClusterConfig } from './config-cluster.js';

/** A param value after flattening nested maps into dotted names. */
export type ParamValue = string | number | boolean | null;
export type Params = Record<string, ParamValue>;

export interface PartitionConfig {
  /** Source text of the regex, matched against the datum's input path. */
  pattern: string;
  /** Compiled once; the key is the named group `key`, else the first group, else the match. */
  regex: RegExp;
}

export interface StageConfig {
  name: string;
  cmd: string;
  /** Glob over project-relative paths; null for a stage that runs once. */
  foreach: string | null;
  /** Static directory part of `foreach` ('' when the glob starts with a wildcard). */
  foreachBase: string | null;
  /** Project-relative, normalised, no trailing '/'. */
  deps: string[];
  outs: string[];
  /** The outs that are directories (declared with a trailing '/', or the foreach out). */
  outDirs: string[];
  /** Params the command depends on: the listed ones plus every ${params.x} used. */
  params: string[];
  retries: number;
  env: Record<string, string>;
  partition: PartitionConfig | null;
  after: string[];
  timeoutSec: number | null;
  desc: string | null;
  /** Outs the command updates rather than recreates: left in place (not cleared) before it runs. */
  persist: string[];
  /** Outs with `cache: false`: hashed and planned on, kept in the run-cache, but not committed. */
  uncached: string[];
  /** Outs that are metrics files (JSON, YAML, CSV/TSV), for dv metrics. */
  metrics: string[];
  /** Outs that are plots (series files), for dv plots. */
  plots: PlotSpec[];
  /** Directory (project-relative, '' = root) the command runs in. */
  wdir: string;
  /** Never run; its recorded outputs stand (DVC's frozen). */
  frozen: boolean;
  /** Run on every dv run, even when nothing changed (DVC's always_changed). */
  alwaysChanged: boolean;
  hooks: Hooks;
  /** isolation, network, identity, resources, s3 (config-sandbox.ts); absent = plain local. */
  isolation?: StageIsolation;
  /** Where the datums run (executor, batch, engine options); absent means local. */
  cluster?: ClusterConfig;
}

/** Commands run after a stage (or a run) ends; their failure is reported, never changes the status. */
export interface Hooks {
  onSuccess: string | null;
  onFailure: string | null;
}

export type PlotTemplate = 'linear' | 'scatter' | 'bar' | 'confusion';

export interface PlotSpec {
  /** Project-relative path of the series file (CSV, TSV or JSON list of rows). */
  path: string;
  x: string | null;
  y: string[];
  template: PlotTemplate;
  title: string | null;
}

export interface PipelineConfig {
  /** File name used in error messages, normally 'dv.yaml'. */
  file: string;
  params: Params;
  /** Stages in the order they appear in the file. */
  stages: Map<string, StageConfig>;
  /** Run-level hooks. */
  hooks: Hooks;
  /** Params files (dvc.yaml projects): file -> the flat param names read from it. */
  paramFiles?: Record<string, string[]>;
  /** Top-level `identities:` (config-sandbox.ts). */
  identities?: Map<string, IdentityConfig>;
  /** Metrics and plots files declared outside any stage (dvc.yaml's top-level metrics/plots). */
  metrics?: string[];
  plots?: PlotSpec[];
}

/** One unit of work of a stage: one matching file of `foreach`, or the whole stage. */
export interface Datum {
  /** The input path for foreach stages, '' for a stage that runs once. */
  id: string;
  input: string | null;
  inputHash: string | null;
  /** Input path relative to the glob's static base. */
  rel: string | null;
  /** Partition key extracted by `partition`, if any. */
  key: string | null;
  /** Default output path (project-relative) that ${out} names. */
  out: string | null;
}

export type ReasonCode =
  | 'new-input' | 'first-run' | 'input-changed' | 'input-deleted' | 'dep-changed' | 'dep-pending' | 'param-changed'
  | 'cmd-changed' | 'config-changed' | 'output-missing' | 'output-changed' | 'forced' | 'backfill' | 'always-changed';

export interface Reason {
  code: ReasonCode;
  /** The dep, param or output concerned. */
  detail?: string;
}

/** What the last successful run of a datum saw and produced. */
export interface DatumState {
  inputHash: string | null;
  deps: Record<string, string>;
  params: Params;
  /** Command interpolated with workspace paths (never scratch paths). */
  cmd: string;
  /** Project-relative output path -> file checksum. */
  outputs: Record<string, string>;
  cacheKey: string;
  /** Run that produced the outputs. */
  run: string;
}

export interface StageState {
  datums: Record<string, DatumState>;
  /**
   * The plan fingerprint (plan.ts) every datum here was planned under: with the same
   * fingerprint, a datum whose input is unchanged has the same cmd and run-cache key,
   * so the planner reuses it without computing them. Absent: each datum is compared.
   */
  fp?: string;
  /**
   * On the state a run leaves: the datums it set or removed (null) against `from`, the
   * datums it started from. saveState rewrites the buckets of those ids alone, without
   * comparing every datum (state.ts changedState makes such a state).
   */
  changes?: { from: Record<string, DatumState>; ids: ReadonlyMap<string, DatumState | null> };
}

/** Stage name -> state; what the planner compares against. */
export type PipelineState = Record<string, StageState>;

/** Where a stage's state is stored: 2^bits bucket blobs (type 8), null for empty ones. */
export interface StageStateRef {
  bits: number;
  buckets: (string | null)[];
  /** StageState.fp. */
  fp?: string;
}

export type PipelineStateRef = Record<string, StageStateRef>;

export type DatumPlan =
  | { action: 'run'; datum: Datum; reasons: Reason[]; cmd: string; cacheKey: string;
      deps: Record<string, string>; params: Params; cached: boolean }
  | { action: 'reuse'; datum: Datum; state: DatumState }
  | { action: 'remove'; datumId: string; outputs: string[] };

export interface StagePlan {
  stage: string;
  /** Runs in execution order (backfill order when given), then reuses, then removals. */
  datums: DatumPlan[];
  counts: { run: number; cached: number; reuse: number; remove: number };
  /** The fingerprint the stage state left by running this plan may carry (StageState.fp). */
  fp?: string;
}

export type BackfillOrder = 'newest' | 'oldest';

export interface Backfill {
  from: string;
  to: string;
  order: BackfillOrder;
}

/** A run-cache entry (blob type 5): a key and the outputs it produced. */
export interface RunCacheEntry {
  format: 1;
  key: string;
  stage: string;
  run: string;
  /** Project-relative path -> {hash,size,mode,chunks}, enough to restore without running. */
  outputs: Record<string, { hash: string; size: number; mode: number; chunks: [string, number][] }>;
}

export type DatumStatus = 'succeeded' | 'cached' | 'failed' | 'removed' | 'cancelled';

export interface DatumRunRecord {
  id: string;
  status: DatumStatus;
  reasons: Reason[];
  cmd: string;
  cacheKey: string;
  inputHash: string | null;
  deps: Record<string, string>;
  outputs: Record<string, string>;
  exitCode: number | null;
  attempts: number;
  durationMs: number;
  /** When its first attempt started (ISO 8601); absent in records written before dv kept it, and for datums that did not run. */
  startedAt?: string;
  /** Log blob (type 6) with the captured stdout/stderr, if the command ran. */
  log: string | null;
  error: string | null;
  /** The engine's id of the job that ran it (Slurm `12_3`, a Kubernetes Job/index); absent for local runs. */
  engineJob?: string;
}

export interface StageRunRecord {
  name: string;
  cmd: string;
  params: Params;
  status: 'succeeded' | 'failed' | 'skipped';
  counts: { run: number; cached: number; reused: number; removed: number; failed: number };
  /** Only datums that did something; reused ones are counted, not listed. */
  datums: DatumRunRecord[];
}

export interface GitInfoLike {
  commit: string;
  dirty: boolean;
}

/** A run record (blob type 4). Format 1 held the state inline (still read). */
export interface RunRecord {
  format: 2;
  id: string;
  branch: string | null;
  /** Commit the run started from. */
  base: string | null;
  /** Commit the run made (null when it failed or changed nothing); it names this run. */
  commit: string | null;
  status: 'succeeded' | 'failed' | 'cancelled';
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  git: GitInfoLike | null;
  params: Params;
  options: { stages: string[]; force: boolean; backfill: Backfill | null; jobs: number };
  stages: StageRunRecord[];
  /**
   * The state after the run (stages that did not run carried forward), as bucket ids.
   * Only in runs that made a commit: the next run finds it through that commit.
   */
  state: PipelineStateRef | null;
  error: string | null;
  /** Hooks that ran (on_success / on_failure of stages and of the run), with how they ended. */
  hooks?: { stage: string | null; event: string; cmd: string; exitCode: number | null; error: string | null; output: string }[];
  /** Set for runs of `dv exp run`: the experiment's name, its baseline and the params it set. */
  experiment?: { name: string; baseline: string | null; ref: string; overrides: Params };
}

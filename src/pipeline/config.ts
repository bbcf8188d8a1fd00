// Loads and validates dv.yaml. Every problem is one DvError line naming the place,
// `dv.yaml: stages.clean.retries: expected a non-negative integer`, and is raised
// before anything runs.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { DvError } from '../store/errors.js';
import { bool, Checker, checkKeys, isMap, parseYaml, pathList, stringList, typeName, type Raw } from './config-check.js';
import { CLUSTER_KEYS, parseCluster } from './config-cluster.js';
import { mergeIdentities, repoConfigIdentities } from './identities.js';
import { parseHooks, parseOutputs } from './config-outputs.js';
import { checkIdentities, ISOLATION_KEYS, parseIdentities, parseIsolation } from './config-sandbox.js';
import { buildGraph, findCycle } from './graph.js';
import { paramOf, placeholderProblem, placeholders } from './interpolate.js';
import { isUnder, normalizePath, overlaps, parseGlob, globMayMatch } from './paths.js';
import type { ParamValue, Params, PartitionConfig, PipelineConfig, StageConfig } from './types.js';

export { parseYaml };

export const CONFIG_FILE = 'dv.yaml';

const TOP_KEYS = ['params', 'stages', 'hooks', 'identity', 'identities'];
const STAGE_KEYS = ['cmd', 'foreach', 'deps', 'outs', 'params', 'retries', 'env', 'partition', 'after', 'timeout', 'desc',
  'metrics', 'plots', 'wdir', 'frozen', 'always_changed', 'hooks', ...ISOLATION_KEYS, ...CLUSTER_KEYS];
/** DVC names generated stages `name@key` (foreach) and `name@a-b` (matrix). */
const STAGE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/;
/** Node's timers hold at most 2^31-1 ms (about 24.8 days); longer ones fire at once. */
const MAX_TIMEOUT_SEC = Math.floor((2 ** 31 - 1) / 1000);
const MAX_RETRIES = 100;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface ParseOptions {
  /** Name used in messages. */
  file?: string;
  /** Whether a project-relative path exists; enables the missing-dep checks. */
  exists?: (path: string) => boolean;
  /** The repository config's `identities` (.dv/config.json), declared there instead of in dv.yaml. */
  repoIdentities?: unknown;
}


/** Nested param maps become dotted names: {a: {b: 1}} -> {'a.b': 1}. */
function flattenParams(c: Checker, v: unknown, prefix: string, out: Params): void {
  if (!isMap(v)) c.fail(prefix || 'params', `expected a map of name: value, got ${typeName(v)}`);
  for (const [k, val] of Object.entries(v)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(k)) c.fail(`params.${name}`, 'a param name is letters, digits, _ and -');
    if (isMap(val)) flattenParams(c, val, name, out);
    else if (val === null || ['string', 'number', 'boolean'].includes(typeof val)) out[name] = val as ParamValue;
    else c.fail(`params.${name}`, `expected a string, number, boolean or map, got ${typeName(val)}`);
  }
}

function parsePartition(c: Checker, place: string, v: unknown): PartitionConfig | null {
  if (v === undefined || v === null) return null;
  let pattern: unknown = v;
  if (isMap(v)) {
    checkKeys(c, place, v, ['pattern']);
    pattern = v.pattern;
    place += '.pattern';
  }
  if (typeof pattern !== 'string' || pattern === '') c.fail(place, `expected a regular expression string, got ${typeName(pattern)}`);
  try {
    return { pattern, regex: new RegExp(pattern) };
  } catch (e) {
    return c.fail(place, `bad regular expression: ${(e as Error).message}`);
  }
}

function parseCmd(c: Checker, place: string, v: unknown): string {
  if (typeof v === 'string' && v.trim() !== '') return v;
  if (Array.isArray(v) && v.length > 0) return stringList(c, place, v).join(' && ');
  return c.fail(place, v === undefined ? 'missing (the command to run)' : `expected a non-empty string, got ${typeName(v)}`);
}

function parseForeach(c: Checker, place: string, v: unknown): { foreach: string | null; foreachBase: string | null } {
  if (v === undefined || v === null) return { foreach: null, foreachBase: null };
  if (typeof v !== 'string') c.fail(place, `expected a glob string, got ${typeName(v)}`);
  const g = parseGlob(v);
  if ('error' in g) c.fail(place, `bad glob ${g.error}`);
  return { foreach: (normalizePath(v) as { path: string }).path, foreachBase: g.base };
}

function parseStageParams(c: Checker, place: string, v: unknown, params: Params): string[] {
  const stageParams: string[] = [];
  for (const [i, p] of stringList(c, place, v).entries()) {
    const known = Object.prototype.hasOwnProperty.call(params, p) || Object.keys(params).some((k) => k.startsWith(p + '.'));
    if (!known) c.fail(`${place}[${i}]`, `unknown param '${p}'`);
    for (const k of Object.keys(params)) if ((k === p || k.startsWith(p + '.')) && !stageParams.includes(k)) stageParams.push(k);
  }
  return stageParams;
}

function parseRetries(c: Checker, place: string, v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) c.fail(place, 'expected a non-negative integer');
  if (v > MAX_RETRIES) c.fail(place, `at most ${MAX_RETRIES}`);
  return v;
}

function parseTimeout(c: Checker, place: string, v: unknown): number | null {
  if (v === undefined) return null;
  if (typeof v !== 'number' || !(v > 0)) c.fail(place, 'expected a positive number of seconds');
  if (v > MAX_TIMEOUT_SEC) c.fail(place, `at most ${MAX_TIMEOUT_SEC} seconds (about 24 days)`);
  return v;
}

function parseEnv(c: Checker, place: string, v: unknown): Record<string, string> {
  const env: Record<string, string> = {};
  if (v === undefined) return env;
  if (!isMap(v)) c.fail(place, `expected a map of NAME: value, got ${typeName(v)}`);
  for (const [k, val] of Object.entries(v)) {
    if (!ENV_NAME.test(k)) c.fail(`${place}.${k}`, 'not a valid environment variable name');
    if (k.startsWith('DV_')) c.fail(`${place}.${k}`, 'DV_* variables are set by dv');
    if (!['string', 'number', 'boolean'].includes(typeof val)) c.fail(`${place}.${k}`, `expected a string, got ${typeName(val)}`);
    env[k] = String(val);
  }
  return env;
}

function parseWdir(c: Checker, place: string, v: unknown): string {
  if (v === undefined || v === null || v === '.' || v === './') return '';
  if (typeof v !== 'string') c.fail(place, `expected a directory path, got ${typeName(v)}`);
  const n = normalizePath(v);
  if ('error' in n) c.fail(place, n.error);
  return n.path;
}

/** Placeholders of cmd and env must be known; params they name become stage params. */
function checkPlaceholders(c: Checker, place: string, stage: StageConfig, params: Params): void {
  const templates: [string, string][] = [[`${place}.cmd`, stage.cmd], ...Object.entries(stage.env).map(([k, v]): [string, string] => [`${place}.env.${k}`, v])];
  for (const [where, t] of templates) {
    for (const ph of placeholders(t)) {
      const problem = placeholderProblem(ph.name, stage, params);
      if (problem) c.fail(where, problem);
      const p = paramOf(ph.name);
      if (p !== null && !stage.params.includes(p)) stage.params.push(p);
    }
  }
  stage.params.sort();
}

function parseStage(c: Checker, name: string, raw: unknown, params: Params, identity: string | null = null): StageConfig {
  const place = `stages.${name}`;
  if (!STAGE_NAME.test(name)) c.fail(place, 'a stage name is letters, digits, _ and - (not starting with -)');
  if (!isMap(raw)) c.fail(place, `expected a map with at least cmd, got ${typeName(raw)}`);
  checkKeys(c, place, raw, STAGE_KEYS);
  const cmd = parseCmd(c, `${place}.cmd`, raw.cmd);
  const { foreach, foreachBase } = parseForeach(c, `${place}.foreach`, raw.foreach);
  const wdir = parseWdir(c, `${place}.wdir`, raw.wdir);
  const deps = pathList(c, `${place}.deps`, raw.deps, wdir).paths;
  const outs = parseOutputs(c, place, raw, wdir);
  if (foreach !== null && outs.paths.length !== 1) {
    c.fail(`${place}.outs`, 'a foreach stage needs exactly one output directory (each datum writes its part under it)');
  }
  const partition = parsePartition(c, `${place}.partition`, raw.partition);
  if (partition && foreach === null) c.fail(`${place}.partition`, 'needs foreach (the key is taken from each datum path)');
  if (raw.desc !== undefined && typeof raw.desc !== 'string') c.fail(`${place}.desc`, `expected a string, got ${typeName(raw.desc)}`);
  const iso = parseIsolation(c, place, raw, identity);
  if (raw.timeout !== undefined && iso.timeout !== undefined) c.fail(`${place}.resources.timeout`, 'give timeout once (timeout or resources.timeout)');
  const stage: StageConfig = {
    name, cmd, foreach, foreachBase, deps, outs: outs.paths, outDirs: foreach !== null ? outs.paths : outs.dirs,
    params: parseStageParams(c, `${place}.params`, raw.params, params), retries: parseRetries(c, `${place}.retries`, raw.retries),
    env: parseEnv(c, `${place}.env`, raw.env), partition, after: stringList(c, `${place}.after`, raw.after),
    timeoutSec: parseTimeout(c, `${place}.${raw.timeout === undefined && iso.timeout !== undefined ? 'resources.' : ''}timeout`, raw.timeout ?? iso.timeout), desc: (raw.desc as string | undefined) ?? null,
    persist: outs.persist, uncached: outs.uncached, metrics: outs.metrics, plots: outs.plots, wdir,
    frozen: bool(c, `${place}.frozen`, raw.frozen), alwaysChanged: bool(c, `${place}.always_changed`, raw.always_changed),
    hooks: parseHooks(c, `${place}.hooks`, raw.hooks),
    isolation: iso.isolation,
    cluster: parseCluster(c, place, raw),
  };
  checkPlaceholders(c, place, stage, params);
  return stage;
}

/** Cross-stage checks: references, overlapping outs, cycles, missing inputs. */
function checkPipeline(c: Checker, stages: Map<string, StageConfig>, exists?: (p: string) => boolean): void {
  const all = [...stages.values()];
  for (const s of all) {
    s.after.forEach((a, i) => {
      if (!stages.has(a)) c.fail(`stages.${s.name}.after${s.after.length > 1 ? `[${i}]` : ''}`, `unknown stage '${a}'`);
      if (a === s.name) c.fail(`stages.${s.name}.after`, 'a stage cannot run after itself');
    });
    for (const o of s.outs) {
      for (const d of s.deps) if (overlaps(o, d)) c.fail(`stages.${s.name}`, `${d} is both a dep and an out of the stage`);
      if (s.foreach !== null && globMayMatch(s.foreach, o)) c.fail(`stages.${s.name}`, `foreach ${s.foreach} would match its own outs ${o}`);
    }
  }
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      for (const a of all[i]!.outs) {
        for (const b of all[j]!.outs) {
          if (overlaps(a, b)) c.fail(`stages.${all[j]!.name}.outs`, `${b} overlaps ${a}, an out of stage ${all[i]!.name}`);
        }
      }
    }
  }
  const cycle = findCycle(buildGraph(stages));
  if (cycle) c.fail('stages', `dependency cycle: ${cycle.join(' -> ')}`);
  if (!exists) return;
  const produced = (p: string): boolean => all.some((s) => s.outs.some((o) => overlaps(o, p)));
  for (const s of all) {
    s.deps.forEach((d, i) => {
      if (!produced(d) && !exists(d)) c.fail(`stages.${s.name}.deps${s.deps.length > 1 ? `[${i}]` : ''}`, `${d} does not exist and no stage outputs it`);
    });
    if (s.foreach !== null && s.foreachBase && !exists(s.foreachBase)) {
      const upstream = all.some((u) => u.outs.some((o) => isUnder(o, s.foreachBase!) || isUnder(s.foreachBase!, o)));
      if (!upstream) c.fail(`stages.${s.name}.foreach`, `${s.foreachBase} does not exist and no stage outputs it`);
    }
  }
}

/** Stages, cross-checks and hooks from a raw document already shaped like dv.yaml, with its params. */
export function buildConfig(file: string, raw: Raw, params: Params, opts: ParseOptions = {}): PipelineConfig {
  const c: Checker = new Checker(file);
  const defs = raw.stages;
  if (defs === undefined || defs === null) c.fail('stages', 'missing (a map of stage name: definition)');
  if (!isMap(defs)) c.fail('stages', `expected a map of stage name: definition, got ${typeName(defs)}`);
  const stages = new Map<string, StageConfig>();
  if (raw.identity !== undefined && raw.identity !== null && typeof raw.identity !== 'string') c.fail('identity', 'expected an identity name');
  for (const [name, def] of Object.entries(defs)) stages.set(name, parseStage(c, name, def, params, (raw.identity as string | undefined) ?? null));
  checkPipeline(c, stages, opts.exists);
  const identities = mergeIdentities(c, parseIdentities(c, raw.identities), opts.repoIdentities);
  checkIdentities(c, stages.values(), identities);
  return { file, params, stages, hooks: parseHooks(c, 'hooks', raw.hooks), identities };
}

/** Parses and validates the text of a dv.yaml. */
export function parseConfig(text: string, opts: ParseOptions = {}): PipelineConfig {
  const c: Checker = new Checker(opts.file ?? CONFIG_FILE);
  const raw = parseYaml(text, c.file);
  if (!isMap(raw)) c.fail('', `expected a map with params and stages, got ${typeName(raw)}`);
  checkKeys(c, '', raw, TOP_KEYS);
  const params: Params = {};
  if (raw.params !== undefined && raw.params !== null) flattenParams(c, raw.params, '', params);
  return buildConfig(c.file, raw, params, opts);
}

/** Reads `<root>/dv.yaml`; missing deps are checked against the workspace, identities also read from `repoRoot`'s config. */
export function loadConfig(root: string, opts: { file?: string; repoRoot?: string } = {}): PipelineConfig {
  const file = opts.file ?? CONFIG_FILE;
  let text: string;
  try {
    text = readFileSync(join(root, file), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new DvError(`no ${file} in ${root}`);
    throw e;
  }
  return parseConfig(text, { file, exists: (p) => existsSync(join(root, p)), repoIdentities: repoConfigIdentities(opts.repoRoot ?? root) });
}

/**
 * Applies `-p KEY=VALUE` overrides; values are read as YAML scalars so `0.7` is a
 * number and `true` a boolean. Only declared params can be overridden.
 */
export function applyParamOverrides(params: Params, overrides: string[] | Record<string, ParamValue>): Params {
  const out: Params = { ...params };
  const entries: [string, ParamValue][] = Array.isArray(overrides)
    ? overrides.map((o) => {
        const i = o.indexOf('=');
        if (i <= 0) throw new DvError(`-p ${o}: expected KEY=VALUE`, 2);
        const v: unknown = YAML.parse(o.slice(i + 1));
        const value = v === undefined || v === null ? null : typeof v === 'object' ? o.slice(i + 1) : (v as ParamValue);
        return [o.slice(0, i), value];
      })
    : Object.entries(overrides);
  for (const [k, v] of entries) {
    if (!Object.prototype.hasOwnProperty.call(params, k)) {
      const known = Object.keys(params);
      throw new DvError(`-p ${k}: unknown param (params: ${known.length ? known.join(', ') : 'none'})`, 2);
    }
    out[k] = v;
  }
  return out;
}

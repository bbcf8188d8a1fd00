// Loads and validates dv.yaml. Every problem is one DvError line naming the place,
// `dv.yaml: stages.clean.retries: expected a non-negative integer`, and is raised
// before anything runs.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { DvError } from '../store/errors.js';
import { buildGraph, findCycle } from './graph.js';
import { paramOf, placeholderProblem, placeholders } from './interpolate.js';
import { isUnder, normalizePath, overlaps, parseGlob, globMayMatch } from './paths.js';
import type { ParamValue, Params, PartitionConfig, PipelineConfig, StageConfig } from './types.js';

export const CONFIG_FILE = 'dv.yaml';

const TOP_KEYS = ['params', 'stages'];
const STAGE_KEYS = ['cmd', 'foreach', 'deps', 'outs', 'params', 'retries', 'env', 'partition', 'after', 'timeout', 'desc'];
const STAGE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface ParseOptions {
  /** Name used in messages. */
  file?: string;
  /** Whether a project-relative path exists; enables the missing-dep checks. */
  exists?: (path: string) => boolean;
}

type Raw = Record<string, unknown>;

class Checker {
  constructor(readonly file: string) {}
  fail(place: string, msg: string): never {
    throw new DvError(`${this.file}: ${place ? place + ': ' : ''}${msg}`);
  }
}

function isMap(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (isMap(v)) return 'a map';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function checkKeys(c: Checker, place: string, m: Raw, allowed: string[]): void {
  for (const k of Object.keys(m)) {
    if (!allowed.includes(k)) c.fail(place ? `${place}.${k}` : k, `unknown key (expected one of: ${allowed.join(', ')})`);
  }
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

function stringList(c: Checker, place: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.map((s, i) => {
    if (typeof s !== 'string') c.fail(Array.isArray(v) ? `${place}[${i}]` : place, `expected a string, got ${typeName(s)}`);
    return s;
  });
}

function pathList(c: Checker, place: string, v: unknown): { paths: string[]; dirs: string[] } {
  const paths: string[] = [];
  const dirs: string[] = [];
  for (const s of stringList(c, place, v)) {
    const n = normalizePath(s);
    if ('error' in n) c.fail(place, n.error);
    if (paths.includes(n.path)) c.fail(place, `${n.path} is listed twice`);
    paths.push(n.path);
    if (n.dir) dirs.push(n.path);
  }
  return { paths, dirs };
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

function parseStage(c: Checker, name: string, raw: unknown, params: Params): StageConfig {
  const place = `stages.${name}`;
  if (!STAGE_NAME.test(name)) c.fail(place, 'a stage name is letters, digits, _ and - (not starting with -)');
  if (!isMap(raw)) c.fail(place, `expected a map with at least cmd, got ${typeName(raw)}`);
  checkKeys(c, place, raw, STAGE_KEYS);

  let cmd: string;
  if (typeof raw.cmd === 'string' && raw.cmd.trim() !== '') cmd = raw.cmd;
  else if (Array.isArray(raw.cmd) && raw.cmd.length > 0) cmd = stringList(c, `${place}.cmd`, raw.cmd).join(' && ');
  else c.fail(`${place}.cmd`, raw.cmd === undefined ? 'missing (the command to run)' : `expected a non-empty string, got ${typeName(raw.cmd)}`);

  let foreach: string | null = null;
  let foreachBase: string | null = null;
  if (raw.foreach !== undefined && raw.foreach !== null) {
    if (typeof raw.foreach !== 'string') c.fail(`${place}.foreach`, `expected a glob string, got ${typeName(raw.foreach)}`);
    const g = parseGlob(raw.foreach);
    if ('error' in g) c.fail(`${place}.foreach`, `bad glob ${g.error}`);
    foreach = (normalizePath(raw.foreach) as { path: string }).path;
    foreachBase = g.base;
  }

  const deps = pathList(c, `${place}.deps`, raw.deps).paths;
  const outs = pathList(c, `${place}.outs`, raw.outs);
  if (foreach !== null && outs.paths.length !== 1) {
    c.fail(`${place}.outs`, 'a foreach stage needs exactly one output directory (each datum writes its part under it)');
  }
  const outDirs = foreach !== null ? outs.paths : outs.dirs;

  const stageParams: string[] = [];
  for (const [i, p] of stringList(c, `${place}.params`, raw.params).entries()) {
    const known = Object.prototype.hasOwnProperty.call(params, p) || Object.keys(params).some((k) => k.startsWith(p + '.'));
    if (!known) c.fail(`${place}.params[${i}]`, `unknown param '${p}'`);
    for (const k of Object.keys(params)) if ((k === p || k.startsWith(p + '.')) && !stageParams.includes(k)) stageParams.push(k);
  }

  let retries = 0;
  if (raw.retries !== undefined) {
    if (typeof raw.retries !== 'number' || !Number.isInteger(raw.retries) || raw.retries < 0) {
      c.fail(`${place}.retries`, 'expected a non-negative integer');
    }
    retries = raw.retries;
  }

  let timeoutSec: number | null = null;
  if (raw.timeout !== undefined) {
    if (typeof raw.timeout !== 'number' || !(raw.timeout > 0)) c.fail(`${place}.timeout`, 'expected a positive number of seconds');
    timeoutSec = raw.timeout;
  }

  const env: Record<string, string> = {};
  if (raw.env !== undefined) {
    if (!isMap(raw.env)) c.fail(`${place}.env`, `expected a map of NAME: value, got ${typeName(raw.env)}`);
    for (const [k, v] of Object.entries(raw.env)) {
      if (!ENV_NAME.test(k)) c.fail(`${place}.env.${k}`, 'not a valid environment variable name');
      if (k.startsWith('DV_')) c.fail(`${place}.env.${k}`, 'DV_* variables are set by dv');
      if (!['string', 'number', 'boolean'].includes(typeof v)) c.fail(`${place}.env.${k}`, `expected a string, got ${typeName(v)}`);
      env[k] = String(v);
    }
  }

  const partition = parsePartition(c, `${place}.partition`, raw.partition);
  if (partition && foreach === null) c.fail(`${place}.partition`, 'needs foreach (the key is taken from each datum path)');

  const after = stringList(c, `${place}.after`, raw.after);
  if (raw.desc !== undefined && typeof raw.desc !== 'string') c.fail(`${place}.desc`, `expected a string, got ${typeName(raw.desc)}`);

  const stage: StageConfig = {
    name, cmd, foreach, foreachBase, deps, outs: outs.paths, outDirs, params: stageParams, retries, env,
    partition, after, timeoutSec, desc: (raw.desc as string | undefined) ?? null,
  };

  const templates: [string, string][] = [[`${place}.cmd`, cmd], ...Object.entries(env).map(([k, v]): [string, string] => [`${place}.env.${k}`, v])];
  for (const [where, t] of templates) {
    for (const ph of placeholders(t)) {
      const problem = placeholderProblem(ph.name, stage, params);
      if (problem) c.fail(where, problem);
      const p = paramOf(ph.name);
      if (p !== null && !stage.params.includes(p)) stage.params.push(p);
    }
  }
  stage.params.sort();
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

/** Parses and validates the text of a dv.yaml. */
export function parseConfig(text: string, opts: ParseOptions = {}): PipelineConfig {
  const c: Checker = new Checker(opts.file ?? CONFIG_FILE);
  const lines = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lines.linePos(e.pos[0]);
    const first = e.message.split('\n')[0];
    throw new DvError(`${c.file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${first}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  if (!isMap(raw)) c.fail('', `expected a map with params and stages, got ${typeName(raw)}`);
  checkKeys(c, '', raw, TOP_KEYS);
  const params: Params = {};
  if (raw.params !== undefined && raw.params !== null) flattenParams(c, raw.params, '', params);
  if (raw.stages === undefined || raw.stages === null) c.fail('stages', 'missing (a map of stage name: definition)');
  if (!isMap(raw.stages)) c.fail('stages', `expected a map of stage name: definition, got ${typeName(raw.stages)}`);
  const stages = new Map<string, StageConfig>();
  for (const [name, def] of Object.entries(raw.stages)) stages.set(name, parseStage(c, name, def, params));
  checkPipeline(c, stages, opts.exists);
  return { file: c.file, params, stages };
}

/** Reads `<root>/dv.yaml`; missing deps are checked against the workspace. */
export function loadConfig(root: string, opts: { file?: string } = {}): PipelineConfig {
  const file = opts.file ?? CONFIG_FILE;
  let text: string;
  try {
    text = readFileSync(join(root, file), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new DvError(`no ${file} in ${root}`);
    throw e;
  }
  return parseConfig(text, { file, exists: (p) => existsSync(join(root, p)) });
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

// dvc.yaml as DVC users write it, run unmodified: the document and its params files
// (params.yaml by default) are turned into the native dv.yaml shape, then validated
// by the same code as dv.yaml. `foreach`/`do`, `matrix`, `vars` and `${...}` are
// expanded first, as DVC does. Param names: `a.b` for params.yaml, `file.yaml:a.b`
// for any other file. Anything dv does not support is one error naming the key.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { DvError } from '../store/errors.js';
import { buildConfig, parseYaml, type ParseOptions } from './config.js';
import { merge, resolveDeep, resolveString, type Context } from './dvc-template.js';
import type { ParamValue, Params, PipelineConfig, PlotTemplate } from './types.js';

export const DVC_FILE = 'dvc.yaml';
export const DEFAULT_PARAMS = 'params.yaml';

const TOP_KEYS = ['stages', 'vars', 'params', 'metrics', 'plots'];
const STAGE_KEYS = ['cmd', 'deps', 'outs', 'params', 'metrics', 'plots', 'wdir', 'frozen', 'always_changed', 'desc', 'meta', 'vars'];

type Raw = Record<string, unknown>;
const isMap = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface DvcOptions extends ParseOptions {
  /** Text of a project-relative file, or null when it does not exist. */
  readFile: (rel: string) => string | null;
}

function unsupported(place: string, allowed: string[]): never {
  throw new DvError(`${DVC_FILE}: ${place}: not supported by dv (supported here: ${allowed.join(', ')})`);
}

/** Leaves of a params document as flat names: {a: {b: 1}} -> a.b = 1; lists as JSON text. */
export function flattenDoc(doc: unknown, prefix = '', out: Params = {}): Params {
  if (!isMap(doc)) return out;
  for (const [k, v] of Object.entries(doc)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (isMap(v)) flattenDoc(v, name, out);
    else if (Array.isArray(v)) out[name] = JSON.stringify(v);
    else out[name] = v === undefined ? null : (v as ParamValue);
  }
  return out;
}

class ParamFiles {
  private docs = new Map<string, unknown>();
  constructor(private readonly read: (rel: string) => string | null) {}

  /** The parsed file, or null when it does not exist. */
  doc(file: string): unknown {
    if (!this.docs.has(file)) {
      if (!/\.(ya?ml|json)$/.test(file)) throw new DvError(`${DVC_FILE}: params file ${file}: only YAML and JSON params files are supported`);
      const text = this.read(file);
      this.docs.set(file, text === null ? null : parseYaml(text, file));
    }
    return this.docs.get(file)!;
  }

  need(file: string, place: string): Raw {
    const d = this.doc(file);
    if (d === null) throw new DvError(`${DVC_FILE}: ${place}: ${file} does not exist`);
    if (!isMap(d)) throw new DvError(`${file}: expected a map of params`);
    return d;
  }
}

/** `vars:` entries: files (`f.yaml`, `f.yaml:a,b`) or maps, merged over the context in order. */
function applyVars(ctx: Context, vars: unknown, files: ParamFiles, place: string): Context {
  if (vars === undefined || vars === null) return ctx;
  if (!Array.isArray(vars)) throw new DvError(`${DVC_FILE}: ${place}: expected a list of files or maps`);
  let out = ctx;
  vars.forEach((v, i) => {
    if (isMap(v)) out = merge(out, resolveDeep(v, out, `${DVC_FILE}: ${place}[${i}]`) as Context);
    else if (typeof v === 'string') {
      const [file, keys] = v.split(':') as [string, string | undefined];
      const doc = files.need(file, `${place}[${i}]`);
      const picked = keys ? Object.fromEntries(keys.split(',').map((k) => [k.trim(), doc[k.trim()]])) : doc;
      out = merge(out, picked);
    } else throw new DvError(`${DVC_FILE}: ${place}[${i}]: expected a file name or a map`);
  });
  return out;
}

/** The stage params as flat native names, their values added to `params`. */
function stageParams(v: unknown, files: ParamFiles, params: Params, place: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new DvError(`${DVC_FILE}: ${place}: expected a list`);
  const names: string[] = [];
  const take = (file: string, keys: string[] | null, where: string): void => {
    const flat = flattenDoc(files.need(file, where));
    const prefix = file === DEFAULT_PARAMS ? '' : `${file}:`;
    const wanted = keys ?? Object.keys(flat);
    for (const k of wanted) {
      const leaves = Object.keys(flat).filter((n) => n === k || n.startsWith(k + '.'));
      if (leaves.length === 0) throw new DvError(`${DVC_FILE}: ${where}: unknown param '${k}' in ${file}`);
      for (const n of leaves) {
        params[prefix + n] = flat[n]!;
        if (!names.includes(prefix + n)) names.push(prefix + n);
      }
    }
  };
  v.forEach((item, i) => {
    const where = `${place}[${i}]`;
    if (typeof item === 'string') take(DEFAULT_PARAMS, [item], where);
    else if (isMap(item)) {
      for (const [file, keys] of Object.entries(item)) {
        if (keys !== null && !Array.isArray(keys)) throw new DvError(`${DVC_FILE}: ${where}.${file}: expected a list of keys`);
        take(file, keys === null ? null : keys.map(String), `${where}.${file}`);
      }
    } else throw new DvError(`${DVC_FILE}: ${where}: expected a key or {file: [keys]}`);
  });
  return names;
}

const scalar = (v: unknown): boolean => v === null || ['string', 'number', 'boolean'].includes(typeof v);

/** foreach/do and matrix stages become one stage per item, named as DVC names them. */
function expand(name: string, def: Raw, ctx: Context): [string, Raw, Context][] {
  const place = `${DVC_FILE}: stages.${name}`;
  if (def.foreach !== undefined) {
    const items = typeof def.foreach === 'string' ? resolveString(def.foreach, ctx, `${place}.foreach`) : def.foreach;
    if (!isMap(def.do)) throw new DvError(`${place}.do: expected the stage to repeat (foreach needs do)`);
    for (const k of Object.keys(def)) if (k !== 'foreach' && k !== 'do') throw new DvError(`${place}.${k}: with foreach, the stage goes under do`);
    if (Array.isArray(items)) {
      return items.map((item, i) => [`${name}@${scalar(item) ? String(item) : i}`, def.do as Raw, merge(ctx, { item })]);
    }
    if (isMap(items)) return Object.entries(items).map(([key, item]) => [`${name}@${key}`, def.do as Raw, merge(ctx, { key, item })]);
    throw new DvError(`${place}.foreach: expected a list or a map`);
  }
  if (def.matrix !== undefined) {
    if (!isMap(def.matrix)) throw new DvError(`${place}.matrix: expected a map of name: [values]`);
    let combos: { item: Raw; parts: string[] }[] = [{ item: {}, parts: [] }];
    for (const [k, raw] of Object.entries(def.matrix)) {
      const values = typeof raw === 'string' ? resolveString(raw, ctx, `${place}.matrix.${k}`) : raw;
      if (!Array.isArray(values) || values.length === 0) throw new DvError(`${place}.matrix.${k}: expected a non-empty list`);
      combos = combos.flatMap((c) => values.map((v, i) => ({ item: { ...c.item, [k]: v }, parts: [...c.parts, scalar(v) ? String(v) : `${k}${i}`] })));
    }
    const rest = Object.fromEntries(Object.entries(def).filter(([k]) => k !== 'matrix'));
    return combos.map((c) => [`${name}@${c.parts.join('-')}`, rest, merge(ctx, { item: c.item })]);
  }
  return [[name, def, ctx]];
}

/** Parses dvc.yaml text (params files read through opts.readFile) into a validated pipeline. */
export function parseDvcYaml(text: string, opts: DvcOptions): PipelineConfig {
  const raw = parseYaml(text, DVC_FILE);
  if (!isMap(raw)) throw new DvError(`${DVC_FILE}: expected a map with stages`);
  for (const k of Object.keys(raw)) if (!TOP_KEYS.includes(k)) unsupported(k, TOP_KEYS);
  const files = new ParamFiles(opts.readFile);
  const base = files.doc(DEFAULT_PARAMS);
  let ctx: Context = isMap(base) ? base : {};
  ctx = applyVars(ctx, raw.vars, files, 'vars');
  const params: Params = isMap(base) ? flattenDoc(base) : {};
  if (!isMap(raw.stages)) throw new DvError(`${DVC_FILE}: stages: expected a map of stage name: definition`);
  const stages: Raw = {};
  for (const [name, def] of Object.entries(raw.stages)) {
    if (!isMap(def)) throw new DvError(`${DVC_FILE}: stages.${name}: expected a map with at least cmd`);
    for (const [sname, sdef, sctx] of expand(name, def, ctx)) {
      const place = `stages.${sname}`;
      for (const k of Object.keys(sdef)) if (!STAGE_KEYS.includes(k)) unsupported(`${place}.${k}`, STAGE_KEYS);
      const local = applyVars(sctx, sdef.vars, files, `${place}.vars`);
      const body = Object.fromEntries(Object.entries(sdef).filter(([k]) => k !== 'vars' && k !== 'meta' && k !== 'params'));
      const resolved = resolveDeep(body, local, `${DVC_FILE}: ${place}`) as Raw;
      resolved.params = stageParams(sdef.params, files, params, `${place}.params`);
      if (stages[sname] !== undefined) throw new DvError(`${DVC_FILE}: ${place}: defined twice`);
      stages[sname] = resolved;
    }
  }
  const config = buildConfig(DVC_FILE, { stages }, params, opts);
  const paramFiles: Record<string, string[]> = {};
  for (const n of Object.keys(params)) {
    const i = n.indexOf(':');
    const file = i < 0 ? DEFAULT_PARAMS : n.slice(0, i);
    (paramFiles[file] ??= []).push(n);
  }
  return { ...config, paramFiles, ...topLevelOutputs(raw) };
}

/** dvc.yaml's top-level `metrics: [file]` and `plots: [file | {file: {x, y, template}}]`. */
function topLevelOutputs(raw: Raw): Pick<PipelineConfig, 'metrics' | 'plots'> {
  const paths = (v: unknown, key: string): [string, Raw][] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new DvError(`${DVC_FILE}: ${key}: expected a list`);
    return v.map((it, i) => {
      if (typeof it === 'string') return [it, {}];
      if (isMap(it) && Object.keys(it).length === 1) {
        const [p, o] = Object.entries(it)[0]!;
        return [p, isMap(o) ? o : {}];
      }
      throw new DvError(`${DVC_FILE}: ${key}[${i}]: expected a file or {file: options}`);
    });
  };
  const y = (o: Raw): string[] => (o.y === undefined ? [] : Array.isArray(o.y) ? o.y.map(String) : [String(o.y)]);
  const template = (o: Raw): PlotTemplate => {
    const t = o.template ?? 'linear';
    if (!['linear', 'scatter', 'bar', 'confusion'].includes(String(t))) throw new DvError(`${DVC_FILE}: plots: unknown template '${String(t)}'`);
    return t as PlotTemplate;
  };
  return {
    metrics: paths(raw.metrics, 'metrics').map(([p]) => p),
    plots: paths(raw.plots, 'plots').map(([p, o]) => ({
      path: p, x: o.x === undefined ? null : String(o.x), y: y(o), template: template(o), title: o.title === undefined ? null : String(o.title),
    })),
  };
}

/**
 * A params file's text with overrides applied (`a.b` -> value), comments and layout
 * kept: what `dv exp run -p` writes into an experiment's workspace.
 */
export function overrideParamsText(text: string | null, overrides: Record<string, ParamValue>): string {
  const doc = YAML.parseDocument(text ?? '{}');
  for (const [k, v] of Object.entries(overrides)) doc.setIn(k.split('.'), v);
  return doc.toString();
}

/** Overrides by params file: `a.b` belongs to params.yaml, `f.yaml:a.b` to f.yaml (as `a.b`). */
export function overridesByFile(overrides: Params): Map<string, Params> {
  const byFile = new Map<string, Params>();
  for (const [k, v] of Object.entries(overrides)) {
    const i = k.indexOf(':');
    const file = i < 0 ? DEFAULT_PARAMS : k.slice(0, i);
    byFile.set(file, { ...(byFile.get(file) ?? {}), [i < 0 ? k : k.slice(i + 1)]: v });
  }
  return byFile;
}

function applyJson(text: string | null, o: Record<string, ParamValue>): unknown {
  const doc = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) {
    const steps = k.split('.');
    let at = doc;
    for (const s of steps.slice(0, -1)) at = (at[s] ??= {}) as Record<string, unknown>;
    at[steps[steps.length - 1]!] = v;
  }
  return doc;
}

/** Writes overrides into the params files under `dir` (YAML keeps its comments and layout). */
export function writeParamsFiles(dir: string, overrides: Params): void {
  for (const [file, o] of overridesByFile(overrides)) {
    const abs = path.join(dir, file);
    const text = fs.existsSync(abs) ? fs.readFileSync(abs, 'utf8') : null;
    const next = file.endsWith('.json') ? JSON.stringify(applyJson(text, o), null, 2) + '\n' : overrideParamsText(text, o);
    fs.writeFileSync(abs, next);
  }
}

// A stage's outputs as dv.yaml and dvc.yaml declare them: `outs`, `metrics` and
// `plots` entries, each a path or `path: {cache, persist, ...}` (plots also x, y,
// template, title), and the `hooks` map.
import { checkKeys, isMap, stagePath, stringList, typeName, type Checker, type Raw } from './config-check.js';
import type { Hooks, PlotSpec, PlotTemplate } from './types.js';

const OUT_KEYS = ['cache', 'persist', 'desc', 'remote', 'push'];
const PLOT_KEYS = [...OUT_KEYS, 'x', 'y', 'template', 'title', 'x_label', 'y_label'];
const TEMPLATES = ['linear', 'scatter', 'bar', 'confusion'];

interface OutItem {
  path: string;
  dir: boolean;
  opts: Raw;
}

/** outs, metrics and plots entries: `path` or `path: {cache: false, persist: true, ...}` (DVC's form). */
function outItems(c: Checker, place: string, v: unknown, wdir: string, keys: string[]): OutItem[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.map((item, i) => {
    const where = Array.isArray(v) ? `${place}[${i}]` : place;
    if (typeof item === 'string') return { ...stagePath(c, place, item, wdir), opts: {} };
    if (!isMap(item) || Object.keys(item).length !== 1) c.fail(where, `expected a path or {path: options}, got ${typeName(item)}`);
    const [p, o] = Object.entries(item)[0]!;
    const opts = o ?? {};
    if (!isMap(opts)) c.fail(`${where}.${p}`, `expected a map of options, got ${typeName(opts)}`);
    checkKeys(c, `${where}.${p}`, opts, keys);
    for (const k of ['cache', 'persist', 'push']) {
      if (opts[k] !== undefined && typeof opts[k] !== 'boolean') c.fail(`${where}.${p}.${k}`, 'expected true or false');
    }
    return { ...stagePath(c, where, p, wdir), opts };
  });
}

function plotSpec(c: Checker, place: string, it: OutItem): PlotSpec {
  const o = it.opts;
  const str = (k: string): string | null => {
    if (o[k] === undefined || o[k] === null) return null;
    if (typeof o[k] !== 'string') c.fail(`${place}.${k}`, `expected a string, got ${typeName(o[k])}`);
    return o[k] as string;
  };
  const template = str('template') ?? 'linear';
  if (!TEMPLATES.includes(template)) c.fail(`${place}.template`, `unknown template '${template}' (expected one of: ${TEMPLATES.join(', ')})`);
  const y = o.y === undefined || o.y === null ? [] : stringList(c, `${place}.y`, o.y);
  return { path: it.path, x: str('x'), y, template: template as PlotTemplate, title: str('title') };
}

export function parseHooks(c: Checker, place: string, v: unknown): Hooks {
  if (v === undefined || v === null) return { onSuccess: null, onFailure: null };
  if (!isMap(v)) c.fail(place, `expected a map with on_success and/or on_failure, got ${typeName(v)}`);
  checkKeys(c, place, v, ['on_success', 'on_failure']);
  const cmd = (k: string): string | null => {
    if (v[k] === undefined || v[k] === null) return null;
    if (typeof v[k] !== 'string' || (v[k] as string).trim() === '') c.fail(`${place}.${k}`, 'expected a command string');
    return v[k] as string;
  };
  return { onSuccess: cmd('on_success'), onFailure: cmd('on_failure') };
}

/** outs, metrics and plots together: every one is an output of the stage. */
export function parseOutputs(c: Checker, place: string, raw: Raw, wdir: string) {
  const items = [
    ...outItems(c, `${place}.outs`, raw.outs, wdir, OUT_KEYS).map((it) => ({ ...it, kind: 'outs' })),
    ...outItems(c, `${place}.metrics`, raw.metrics, wdir, OUT_KEYS).map((it) => ({ ...it, kind: 'metrics' })),
    ...outItems(c, `${place}.plots`, raw.plots, wdir, PLOT_KEYS).map((it) => ({ ...it, kind: 'plots' })),
  ];
  const out = { paths: [] as string[], dirs: [] as string[], persist: [] as string[], uncached: [] as string[],
    metrics: [] as string[], plots: [] as PlotSpec[] };
  for (const it of items) {
    if (out.paths.includes(it.path)) c.fail(`${place}.${it.kind}`, `${it.path} is listed twice`);
    out.paths.push(it.path);
    if (it.dir) out.dirs.push(it.path);
    if (it.opts.persist === true) out.persist.push(it.path);
    if (it.opts.cache === false) out.uncached.push(it.path);
    if (it.kind === 'metrics') out.metrics.push(it.path);
    if (it.kind === 'plots') out.plots.push(plotSpec(c, `${place}.plots.${it.path}`, it));
  }
  return out;
}

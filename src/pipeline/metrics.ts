// dv metrics show / diff and dv params diff, as plain data (the CLI prints tables,
// the web console draws them). Metrics files are JSON, YAML or CSV/TSV (last row);
// values are flattened to dotted names. Params come from what each revision's run
// recorded (the workspace: the current params files).
import YAML from 'yaml';
import type { Repo } from '../repo/repo.js';
import { DvError } from '../store/errors.js';
import { loadPipeline } from './load.js';
import { OutputReader, resolveRevision, type Revision } from './outputs-at.js';
import type { ParamValue, Params, PipelineConfig } from './types.js';

export type MetricValue = number | string | boolean | null;
/** File -> flat metric name -> value. */
export type Metrics = Record<string, Record<string, MetricValue>>;

export interface MetricsAt {
  rev: string;
  commit: string | null;
  metrics: Metrics;
  /** Files declared as metrics that this revision does not have or that do not parse. */
  errors: Record<string, string>;
}

export interface Change<T> {
  old: T | null;
  new: T | null;
}

export interface MetricChange extends Change<MetricValue> {
  path: string;
  metric: string;
  /** new - old when both are numbers. */
  change: number | null;
}

export interface ParamChange extends Change<ParamValue> {
  param: string;
}

function flat(v: unknown, prefix: string, out: Record<string, MetricValue>): void {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flat(x, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(v)) v.forEach((x, i) => flat(x, `${prefix}.${i}`, out));
  else out[prefix] = v as MetricValue;
}

/** Parses a metrics file by its extension. */
export function parseMetrics(rel: string, bytes: Buffer): Record<string, MetricValue> {
  const text = bytes.toString('utf8');
  const out: Record<string, MetricValue> = {};
  if (/\.(csv|tsv)$/i.test(rel)) {
    const sep = rel.toLowerCase().endsWith('.tsv') ? '\t' : ',';
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
    if (lines.length < 2) throw new DvError(`${rel}: expected a header and at least one row`);
    const head = lines[0]!.split(sep);
    const last = lines[lines.length - 1]!.split(sep);
    head.forEach((h, i) => {
      const v = last[i] ?? '';
      out[h.trim()] = v.trim() !== '' && !isNaN(Number(v)) ? Number(v) : v;
    });
    return out;
  }
  let doc: unknown;
  try {
    doc = /\.json$/i.test(rel) ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new DvError(`${rel}: ${(e as Error).message.split('\n')[0]}`);
  }
  flat(doc, '', out);
  return out;
}

/** Every metrics file the pipeline declares. */
export function metricFiles(config: PipelineConfig): string[] {
  const files = [...config.stages.values()].flatMap((s) => s.metrics);
  return [...new Set([...files, ...(config.metrics ?? [])])].sort();
}

export interface RevisionOptions {
  allBranches?: boolean;
  allTags?: boolean;
  /** Also the N-1 first-parent ancestors of each named revision. */
  n?: number;
  /** Leave out the workspace (it is shown by default when no revision is named). */
  noWorkspace?: boolean;
}

/** The revisions `dv metrics show` covers: the workspace, named refs, branches, tags. */
export async function revisions(repo: Repo, refs: string[], o: RevisionOptions = {}): Promise<Revision[]> {
  const out: Revision[] = [];
  if (!o.noWorkspace && refs.length === 0) out.push({ name: 'workspace', commit: null });
  const named: Revision[] = [];
  for (const r of refs) named.push(await resolveRevision(repo, r));
  if (o.allBranches) for (const r of repo.refs.list('heads/')) named.push({ name: r.name.slice(6), commit: r.target });
  if (o.allTags) for (const r of repo.refs.list('tags/')) named.push({ name: r.name.slice(5), commit: r.target });
  if (refs.length === 0 && !o.allBranches && !o.allTags && repo.headCommit()) named.push({ name: 'HEAD', commit: repo.headCommit() });
  for (const rev of named) {
    out.push(rev);
    let c = rev.commit;
    for (let i = 1; i < (o.n ?? 1) && c; i++) {
      c = (await repo.readCommit(c)).parents[0] ?? null;
      if (c) out.push({ name: `${rev.name}~${i}`, commit: c });
    }
  }
  return out;
}

export async function metricsOf(reader: OutputReader, rev: Revision, files: string[]): Promise<MetricsAt> {
  const at: MetricsAt = { rev: rev.name, commit: rev.commit, metrics: {}, errors: {} };
  for (const f of files) {
    const bytes = await reader.read(rev, f);
    if (bytes === null) {
      at.errors[f] = 'missing';
      continue;
    }
    try {
      at.metrics[f] = parseMetrics(f, bytes);
    } catch (e) {
      at.errors[f] = (e as Error).message;
    }
  }
  return at;
}

export async function metricsShow(repo: Repo, refs: string[], o: RevisionOptions = {}): Promise<MetricsAt[]> {
  const files = metricFiles(loadPipeline(repo.root));
  const reader = await OutputReader.open(repo);
  const out: MetricsAt[] = [];
  for (const rev of await revisions(repo, refs, o)) out.push(await metricsOf(reader, rev, files));
  return out;
}

/** A and B of a diff: default HEAD and the workspace, as DVC does. */
async function pair(repo: Repo, a?: string, b?: string): Promise<[Revision, Revision]> {
  return [await resolveRevision(repo, a ?? 'HEAD'), await resolveRevision(repo, b ?? 'workspace')];
}

export function diffMetrics(a: Metrics, b: Metrics, all = false): MetricChange[] {
  const out: MetricChange[] = [];
  for (const path of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const x = a[path] ?? {};
    const y = b[path] ?? {};
    for (const metric of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) {
      const o = x[metric] ?? null;
      const n = y[metric] ?? null;
      if (o === n && !all) continue;
      const change = typeof o === 'number' && typeof n === 'number' ? Number((n - o).toPrecision(12)) : null;
      out.push({ path, metric, old: o, new: n, change });
    }
  }
  return out;
}

export async function metricsDiff(repo: Repo, a?: string, b?: string, o: { all?: boolean } = {}): Promise<MetricChange[]> {
  const files = metricFiles(loadPipeline(repo.root));
  const reader = await OutputReader.open(repo);
  const [ra, rb] = await pair(repo, a, b);
  return diffMetrics((await metricsOf(reader, ra, files)).metrics, (await metricsOf(reader, rb, files)).metrics, o.all);
}

/** The params a revision ran with: its run's record; the workspace: the params files now. */
export async function paramsOf(repo: Repo, reader: OutputReader, rev: Revision): Promise<Params> {
  if (rev.commit === null) return loadPipeline(repo.root).params;
  return (await reader.runAt(rev.commit))?.params ?? {};
}

export function diffParams(a: Params, b: Params, all = false): ParamChange[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()
    .filter((p) => all || (a[p] ?? null) !== (b[p] ?? null))
    .map((param) => ({ param, old: a[param] ?? null, new: b[param] ?? null }));
}

export async function paramsDiff(repo: Repo, a?: string, b?: string, o: { all?: boolean } = {}): Promise<ParamChange[]> {
  const reader = await OutputReader.open(repo);
  const [ra, rb] = await pair(repo, a, b);
  return diffParams(await paramsOf(repo, reader, ra), await paramsOf(repo, reader, rb), o.all);
}

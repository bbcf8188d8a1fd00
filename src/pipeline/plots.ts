// dv plots show / diff: the series files a pipeline marks as plots, for one or more
// revisions, written as an SVG per plot and one self-contained HTML page (the SVGs
// inline, no script, nothing fetched), so it opens anywhere without a network.
// The data behind each plot is returned too, for the web console to draw.
import fs from 'node:fs';
import path from 'node:path';
import type { Repo } from '../repo/repo.js';
import { DvError } from '../store/errors.js';
import { loadPipeline } from './load.js';
import { revisions } from './metrics.js';
import { OutputReader, resolveRevision, type Revision } from './outputs-at.js';
import { renderSvg, type PlotData, type Series } from './plot-svg.js';
import type { PipelineConfig, PlotSpec } from './types.js';

export type Row = Record<string, number | string>;

export interface RenderedPlot extends PlotData {
  path: string;
  /** File name of the SVG in the output directory. */
  svg: string;
  /** Revisions that had no such file. */
  missing: string[];
}

export interface PlotsResult {
  dir: string;
  html: string;
  plots: RenderedPlot[];
}

/** Rows of a CSV/TSV (header line first) or JSON (a list of objects, or a map holding one) file. */
export function parseRows(rel: string, bytes: Buffer): Row[] {
  const text = bytes.toString('utf8');
  const value = (v: string): number | string => (v.trim() !== '' && !isNaN(Number(v)) ? Number(v) : v);
  if (/\.(csv|tsv)$/i.test(rel)) {
    const sep = /\.tsv$/i.test(rel) ? '\t' : ',';
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
    const head = (lines[0] ?? '').split(sep).map((h) => h.trim());
    return lines.slice(1).map((l) => Object.fromEntries(l.split(sep).map((v, i) => [head[i] ?? `col${i}`, value(v)])));
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new DvError(`${rel}: ${(e as Error).message}`);
  }
  if (!Array.isArray(doc) && doc && typeof doc === 'object') doc = Object.values(doc).find(Array.isArray);
  if (!Array.isArray(doc)) throw new DvError(`${rel}: expected a list of rows`);
  return doc.filter((r) => r && typeof r === 'object') as Row[];
}

export function plotSpecs(config: PipelineConfig): PlotSpec[] {
  const specs = new Map<string, PlotSpec>();
  for (const s of config.stages.values()) for (const p of s.plots) specs.set(p.path, p);
  for (const p of config.plots ?? []) specs.set(p.path, { ...specs.get(p.path), ...p });
  return [...specs.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}

const svgName = (rel: string): string => `${rel.replace(/[^A-Za-z0-9._-]/g, '_')}.svg`;

async function plotOf(reader: OutputReader, spec: PlotSpec, revs: Revision[]): Promise<RenderedPlot> {
  const series: Series[] = [];
  const missing: string[] = [];
  let xLabel = spec.x ?? 'step';
  let yFields = spec.y;
  for (const rev of revs) {
    const bytes = await reader.read(rev, spec.path);
    if (!bytes) {
      missing.push(rev.name);
      continue;
    }
    const rows = parseRows(spec.path, bytes);
    if (yFields.length === 0 && rows.length > 0) {
      const cols = Object.keys(rows[0]!).filter((k) => k !== spec.x);
      yFields = cols.length ? [cols[cols.length - 1]!] : [];
    }
    for (const y of yFields) {
      const label = revs.length > 1 ? (yFields.length > 1 ? `${rev.name} ${y}` : rev.name) : y;
      series.push({ label, points: rows.map((r, i) => ({ x: spec.x ? r[spec.x] ?? i : i, y: r[y] ?? NaN })) });
    }
  }
  xLabel = spec.x ?? 'step';
  const data: PlotData = { title: spec.title ?? spec.path, template: spec.template, xLabel, yLabel: yFields.join(', '), series };
  return { ...data, path: spec.path, svg: svgName(spec.path), missing };
}

function page(title: string, plots: RenderedPlot[], svgs: string[]): string {
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const blocks = plots.map((p, i) => [
    `<section>`, `<h2>${esc(p.path)}</h2>`,
    p.missing.length ? `<p class="missing">not in: ${esc(p.missing.join(', '))}</p>` : '',
    svgs[i]!.trim(), `</section>`,
  ].filter(Boolean).join('\n'));
  return [
    '<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">', `<title>${esc(title)}</title>`,
    '<style>body{font-family:sans-serif;margin:2em}section{margin-bottom:2em}.missing{color:#a00}</style>',
    '</head>', '<body>', `<h1>${esc(title)}</h1>`, ...blocks, '</body>', '</html>', '',
  ].join('\n');
}

async function render(repo: Repo, revs: Revision[], outDir: string, title: string): Promise<PlotsResult> {
  const specs = plotSpecs(loadPipeline(repo.root));
  if (specs.length === 0) throw new DvError('no plots: mark series outputs with plots: in the pipeline file');
  const reader = await OutputReader.open(repo);
  const plots: RenderedPlot[] = [];
  for (const s of specs) plots.push(await plotOf(reader, s, revs));
  const dir = path.resolve(outDir);
  fs.mkdirSync(dir, { recursive: true });
  const svgs = plots.map((p) => renderSvg(p));
  plots.forEach((p, i) => fs.writeFileSync(path.join(dir, p.svg), svgs[i]!));
  const html = path.join(dir, 'index.html');
  fs.writeFileSync(html, page(title, plots, svgs));
  return { dir, html, plots };
}

/** The data of every plot for these revisions, nothing written (the web console draws it). */
export async function plotsData(repo: Repo, revs: Revision[]): Promise<RenderedPlot[]> {
  const reader = await OutputReader.open(repo);
  const plots: RenderedPlot[] = [];
  for (const s of plotSpecs(loadPipeline(repo.root))) plots.push(await plotOf(reader, s, revs));
  return plots;
}

/** dv plots show [REF...] -o DIR: the workspace by default. */
export async function plotsShow(repo: Repo, refs: string[], outDir: string): Promise<PlotsResult> {
  const revs = refs.length ? await revisions(repo, refs, { noWorkspace: true }) : [{ name: 'workspace', commit: null }];
  return render(repo, revs, outDir, `dv plots: ${revs.map((r) => r.name).join(', ')}`);
}

/** dv plots diff [A [B]] -o DIR: A defaults to HEAD, B to the workspace; any number of revisions may be named. */
export async function plotsDiff(repo: Repo, refs: string[], outDir: string): Promise<PlotsResult> {
  const named = refs.length ? refs : ['HEAD'];
  const revs: Revision[] = [];
  for (const r of named) revs.push(await resolveRevision(repo, r));
  if (named.length < 2) revs.push({ name: 'workspace', commit: null });
  return render(repo, revs, outDir, `dv plots diff: ${revs.map((r) => r.name).join(' vs ')}`);
}

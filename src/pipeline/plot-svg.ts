// SVG for one plot, drawn here rather than through Vega/Vega-Lite: those add ~20 MB
// of dependencies and a cold start of a second or so for what is four chart shapes
// (bench/pipeline.sh prints both figures). Templates: linear (lines per series),
// scatter (points), bar (bars of the last y per x), confusion (counts of
// actual x predicted as a heat map). Deterministic output: same data, same bytes.
import type { PlotTemplate } from './types.js';

export interface Series {
  /** Revision (and y field when there are several). */
  label: string;
  points: { x: number | string; y: number | string }[];
}

export interface PlotData {
  title: string;
  template: PlotTemplate;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

const W = 640;
const H = 400;
const M = { top: 40, right: 150, bottom: 50, left: 70 };
const COLORS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6', '#9d755d'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : Number(v.toPrecision(4)).toString());

/** About five round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  if (lo === hi) return [lo];
  const step0 = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function frame(title: string, body: string[], xLabel: string, yLabel: string, legend: string[]): string {
  const items = legend.map((l, i) => `<g transform="translate(${W - M.right + 16},${M.top + i * 18})"><rect width="10" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="16" y="9" font-size="11">${esc(l)}</text></g>`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
    ...body,
    `<text x="${M.left + (W - M.left - M.right) / 2}" y="${H - 10}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(16,${M.top + (H - M.top - M.bottom) / 2}) rotate(-90)" font-size="12" text-anchor="middle">${esc(yLabel)}</text>`,
    ...items,
    '</svg>',
  ].join('\n') + '\n';
}

function num(v: number | string): number {
  return typeof v === 'number' ? v : Number(v);
}

function xyChart(p: PlotData): string {
  const pts = p.series.flatMap((s) => s.points);
  const numericX = pts.every((q) => !isNaN(num(q.x)));
  const cats = numericX ? [] : [...new Set(pts.map((q) => String(q.x)))];
  const xs = numericX ? pts.map((q) => num(q.x)) : cats.map((_, i) => i);
  const ys = pts.map((q) => num(q.y)).filter((v) => !isNaN(v));
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  const y0 = ys.length ? Math.min(p.template === 'bar' ? 0 : Infinity, ...ys) : 0;
  const y1 = ys.length ? Math.max(...ys) : 1;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (v: number): number => M.left + (x1 === x0 ? pw / 2 : ((v - x0) / (x1 - x0)) * pw);
  const sy = (v: number): number => M.top + ph - ((v - y0) / (y1 - y0 || 1)) * ph;
  const xOf = (q: { x: number | string }): number => (numericX ? num(q.x) : cats.indexOf(String(q.x)));
  const body: string[] = [`<g stroke="#888" stroke-width="1"><line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}"/><line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}"/></g>`];
  for (const t of ticks(y0, y1)) body.push(`<text x="${M.left - 6}" y="${sy(t).toFixed(1)}" font-size="10" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  const xt = numericX ? ticks(x0, x1) : cats.map((_, i) => i);
  for (const t of xt) body.push(`<text x="${sx(t).toFixed(1)}" y="${M.top + ph + 16}" font-size="10" text-anchor="middle">${esc(numericX ? fmt(t) : cats[t]!)}</text>`);
  p.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const valid = s.points.filter((q) => !isNaN(num(q.y)));
    if (p.template === 'linear') {
      const d = valid.map((q, j) => `${j ? 'L' : 'M'}${sx(xOf(q)).toFixed(1)},${sy(num(q.y)).toFixed(1)}`).join('');
      body.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    } else if (p.template === 'scatter') {
      for (const q of valid) body.push(`<circle cx="${sx(xOf(q)).toFixed(1)}" cy="${sy(num(q.y)).toFixed(1)}" r="3" fill="${color}" fill-opacity="0.7"/>`);
    } else {
      const slot = pw / Math.max(1, xt.length) / (p.series.length + 1);
      for (const q of valid) {
        const cx = sx(xOf(q)) - (slot * p.series.length) / 2 + i * slot;
        body.push(`<rect x="${cx.toFixed(1)}" y="${sy(num(q.y)).toFixed(1)}" width="${slot.toFixed(1)}" height="${(sy(y0) - sy(num(q.y))).toFixed(1)}" fill="${color}"/>`);
      }
    }
  });
  return frame(p.title, body, p.xLabel, p.yLabel, p.series.map((s) => s.label));
}

function confusion(p: PlotData): string {
  const s = p.series[0] ?? { label: '', points: [] };
  const labels = [...new Set(s.points.flatMap((q) => [String(q.x), String(q.y)]))].sort();
  const counts = new Map<string, number>();
  for (const q of s.points) counts.set(`${q.x}\0${q.y}`, (counts.get(`${q.x}\0${q.y}`) ?? 0) + 1);
  const max = Math.max(1, ...counts.values());
  const n = Math.max(1, labels.length);
  const size = Math.min((W - M.left - M.right) / n, (H - M.top - M.bottom) / n);
  const body: string[] = [];
  labels.forEach((a, i) => {
    body.push(`<text x="${M.left + i * size + size / 2}" y="${M.top + n * size + 14}" font-size="10" text-anchor="middle">${esc(a)}</text>`);
    body.push(`<text x="${M.left - 6}" y="${M.top + i * size + size / 2}" font-size="10" text-anchor="end" dominant-baseline="middle">${esc(a)}</text>`);
    labels.forEach((b, j) => {
      const c = counts.get(`${a}\0${b}`) ?? 0;
      const shade = Math.round(255 - (c / max) * 180);
      body.push(`<rect x="${M.left + i * size}" y="${M.top + j * size}" width="${size}" height="${size}" fill="rgb(${shade},${shade},255)" stroke="white"/>`);
      body.push(`<text x="${M.left + i * size + size / 2}" y="${M.top + j * size + size / 2}" font-size="11" text-anchor="middle" dominant-baseline="middle">${c}</text>`);
    });
  });
  return frame(`${p.title}${s.label ? ` (${s.label})` : ''}`, body, p.xLabel, p.yLabel, []);
}

export function renderSvg(p: PlotData): string {
  return p.template === 'confusion' ? confusion(p) : xyChart(p);
}

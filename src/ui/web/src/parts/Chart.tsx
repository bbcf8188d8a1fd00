// A line or point chart drawn by uPlot (bundled, no network): x values and one or more
// named series of y values. Non-numeric x values (revision names) are placed at 0..n-1
// and shown as tick labels. Used for plots of a metric over commits or experiments and
// for the pipeline's plots.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries { label: string; y: (number | null)[] }

const COLORS = ['#2f5fd0', '#c93434', '#1f8a4c', '#b7791f', '#6a5acd', '#0f8b8d', '#a23b72', '#555'];

export function Chart(p: { x: (number | string)[]; series: ChartSeries[]; points?: boolean; height?: number; testid?: string; xLabel?: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    const categorical = p.x.some((v) => typeof v !== 'number');
    const xs = p.x.map((v, i) => (categorical ? i : (v as number)));
    const opts: uPlot.Options = {
      width: Math.max(320, el.current.clientWidth || 640), height: p.height ?? 260,
      scales: { x: { time: false } },
      axes: [
        { label: p.xLabel, values: categorical ? (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(p.x[t] ?? '') : '')) : undefined },
        {},
      ],
      series: [{ label: p.xLabel ?? 'x' }, ...p.series.map((s, i) => ({
        label: s.label, stroke: COLORS[i % COLORS.length],
        ...(p.points ? { paths: () => null, points: { show: true, size: 7, fill: COLORS[i % COLORS.length] } } : { points: { show: true, size: 5 } }),
      }))],
    };
    const plot = new uPlot(opts, [xs, ...p.series.map((s) => s.y)] as uPlot.AlignedData, el.current);
    return () => plot.destroy();
  }, [JSON.stringify([p.x, p.series, p.points])]);
  return <div class="chart" ref={el} data-testid={p.testid} />;
}

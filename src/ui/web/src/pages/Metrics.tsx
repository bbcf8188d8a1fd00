// Metrics and params of revisions side by side (what dv metrics show / dv params diff
// compute), each value with its change against HEAD; a chosen metric over those
// revisions as a chart (with n ancestors: a metric over commits); and the pipeline's
// plots for the same revisions, drawn with uPlot.
import { useState } from 'preact/hooks';
import { get } from '../api';
import { useLoad } from '../load';
import { Chart } from '../parts/Chart';
import { Box } from '../parts/common';
import { href } from '../route';

type Value = number | string | boolean | null;
interface Change { old: Value; new: Value }
interface RevDoc {
  rev: string; commit: string | null; metrics: Record<string, Record<string, Value>>; errors: Record<string, string>;
  params: Record<string, Value>;
  vsHead: { metrics: (Change & { path: string; metric: string; change: number | null })[]; params: (Change & { param: string })[] } | null;
}
interface MetricsDoc { files: string[]; head: string | null; revisions: RevDoc[]; error: string | null }
interface PlotDoc { plots: { path: string; title: string; template: string; xLabel: string; yLabel: string; series: { label: string; points: { x: number | string; y: number | string }[] }[]; missing: string[] }[]; error: string | null }

const show = (v: Value | undefined): string => (v === undefined || v === null ? '–' : typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v));
const signed = (n: number): string => (n > 0 ? `+${Number(n.toPrecision(4))}` : String(Number(n.toPrecision(4))));

export function MetricsPage(p: { refs?: string; n?: string }) {
  const refs = p.refs || 'HEAD';
  const n = p.n || '1';
  const [refsIn, setRefs] = useState(refs);
  const [nIn, setN] = useState(n);
  const m = useLoad(`${refs}:${n}`, () => get<MetricsDoc>('metrics', { refs, n }));
  const go = (): void => { location.hash = href('metrics', [], { refs: refsIn, n: nIn }); };
  return (
    <>
      <h2>Metrics</h2>
      <div class="toolbar">
        <label>revisions <input data-testid="metrics-refs" value={refsIn} size={30} onInput={(e) => setRefs((e.target as HTMLInputElement).value)} /></label>
        <label>with ancestors <input data-testid="metrics-n" type="number" min={1} max={50} value={nIn} onInput={(e) => setN((e.target as HTMLInputElement).value)} /></label>
        <button onClick={go}>show</button>
        <a href={href('experiments')}>experiments ›</a>
      </div>
      <Box error={m.error} loading={m.loading}>
        {m.data?.error ? <p class="error">{m.data.error}</p> : m.data ? <Tables doc={m.data} /> : null}
      </Box>
      <Plots key={`${refs}:${n}`} refs={refs} n={n} />
    </>
  );
}

function Tables(p: { doc: MetricsDoc }) {
  const revs = p.doc.revisions;
  const names = [...new Set(revs.flatMap((r) => Object.entries(r.metrics).flatMap(([f, ms]) => Object.keys(ms).map((k) => `${f}\t${k}`))))].sort();
  const params = [...new Set(revs.flatMap((r) => Object.keys(r.params)))].sort();
  const numeric = names.filter((k) => revs.some((r) => typeof valueOf(r, k) === 'number'));
  const [pick, setPick] = useState(numeric[0] ?? '');
  const change = (r: RevDoc, k: string): number | null => {
    const [path, metric] = k.split('\t');
    return r.vsHead?.metrics.find((c) => c.path === path && c.metric === metric)?.change ?? null;
  };
  return (
    <>
      <div class="scrollx">
        <table class="grid" data-testid="metrics-table">
          <thead><tr><th>file</th><th>metric</th>{revs.map((r) => <th key={r.rev} class="num">{r.rev}{r.commit ? <div class="muted small"><code>{r.commit.slice(0, 8)}</code></div> : null}</th>)}</tr></thead>
          <tbody>
            {names.map((k) => {
              const [file, metric] = k.split('\t');
              return (
                <tr key={k}>
                  <td class="muted">{file}</td><td>{metric}</td>
                  {revs.map((r) => { const c = change(r, k); return <td key={r.rev} class="num">{show(valueOf(r, k))}{c ? <span class={`small ${c > 0 ? 'add' : 'del'}`}> ({signed(c)})</span> : null}</td>; })}
                </tr>
              );
            })}
            {names.length === 0 ? <tr><td colSpan={2 + revs.length} class="muted">no metrics at these revisions{p.doc.files.length ? ` (${p.doc.files.join(', ')} declared)` : ' (none declared)'}</td></tr> : null}
          </tbody>
        </table>
      </div>
      <h3>Params</h3>
      <table class="grid" data-testid="params-table">
        <thead><tr><th>param</th>{revs.map((r) => <th key={r.rev} class="num">{r.rev}</th>)}</tr></thead>
        <tbody>
          {params.map((k) => (
            <tr key={k}>
              <td>{k}</td>
              {revs.map((r) => <td key={r.rev} class={`num ${r.vsHead?.params.some((c) => c.param === k) ? 'mod' : ''}`}>{show(r.params[k])}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
      {numeric.length ? (
        <>
          <h3>
            <select data-testid="metric-pick" value={pick} onChange={(e) => setPick((e.target as HTMLSelectElement).value)}>
              {numeric.map((k) => <option key={k} value={k}>{k.replace('\t', ': ')}</option>)}
            </select> over these revisions
          </h3>
          <Chart testid="metric-chart" x={revs.map((r) => r.rev)} series={[{ label: pick.split('\t')[1] ?? pick, y: revs.map((r) => num(valueOf(r, pick))) }]} xLabel="revision" />
        </>
      ) : null}
    </>
  );
}

function valueOf(r: RevDoc, k: string): Value | undefined {
  const [file, metric] = k.split('\t');
  return r.metrics[file!]?.[metric!];
}
const num = (v: Value | undefined): number | null => (typeof v === 'number' ? v : null);

function Plots(p: { refs: string; n: string }) {
  const d = useLoad(`${p.refs}:${p.n}`, () => get<PlotDoc>('plots', { refs: p.refs, n: p.n }));
  if (!d.data || d.data.error || d.data.plots.length === 0) return null;
  return (
    <div data-testid="plots">
      <h3>Plots</h3>
      {d.data.plots.map((pl) => {
        const xs = [...new Set(pl.series.flatMap((s) => s.points.map((pt) => pt.x)))];
        const numericX = xs.every((x) => typeof x === 'number');
        if (numericX) (xs as number[]).sort((a, b) => a - b);
        return (
          <section key={pl.path} data-testid="plot" data-path={pl.path}>
            <h4>{pl.title} <span class="muted small">{pl.template}{pl.missing.length ? ` · not in ${pl.missing.join(', ')}` : ''}</span></h4>
            <Chart x={xs} xLabel={pl.xLabel} points={pl.template !== 'linear'}
              series={pl.series.map((s) => ({ label: s.label, y: xs.map((x) => { const pt = s.points.find((q) => q.x === x); return pt && typeof pt.y === 'number' ? pt.y : null; }) }))} />
          </section>
        );
      })}
    </div>
  );
}

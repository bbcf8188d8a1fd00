// Experiments side by side with their baseline, as dv exp show prints them: params the
// experiment set, metrics, status, created, run. Every column sorts (click its head);
// a chosen metric is charted over the experiments.
import { useState } from 'preact/hooks';
import { get, short } from '../api';
import { useLoad } from '../load';
import { Chart } from '../parts/Chart';
import { Badge, Box } from '../parts/common';
import { href } from '../route';

type Value = number | string | boolean | null;
interface ExpRow {
  name: string; kind: 'baseline' | 'experiment'; runId: string | null; status: string | null; created: string | null;
  commit: string | null; baseline: string | null; params: Record<string, Value>; metrics: Record<string, Record<string, Value>>;
}
interface ExpDoc { items: ExpRow[]; hidden: number; error: string | null }

type Col = { key: string; label: string; get: (r: ExpRow) => Value; num?: boolean };

const show = (v: Value): string => (v === null ? '–' : typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v));

export function ExperimentsPage() {
  const [all, setAll] = useState(false);
  const d = useLoad(`exp:${all}`, () => get<ExpDoc>('experiments', { all: all ? 1 : undefined }));
  const [sort, setSort] = useState<{ key: string; desc: boolean }>({ key: 'created', desc: true });
  const rows = d.data?.items ?? [];
  const params = [...new Set(rows.flatMap((r) => Object.keys(r.params)))].sort();
  const metrics = [...new Set(rows.flatMap((r) => Object.entries(r.metrics).flatMap(([f, ms]) => Object.keys(ms).map((m) => `${f}\t${m}`))))].sort();
  const cols: Col[] = [
    { key: 'name', label: 'experiment', get: (r) => r.name },
    { key: 'status', label: 'status', get: (r) => r.status },
    { key: 'created', label: 'created', get: (r) => r.created },
    ...params.map((k): Col => ({ key: `p:${k}`, label: k, get: (r) => r.params[k] ?? null, num: true })),
    ...metrics.map((k): Col => { const [f, m] = k.split('\t') as [string, string]; return { key: `m:${f}:${m}`, label: m, get: (r) => r.metrics[f]?.[m] ?? null, num: true }; }),
  ];
  const col = cols.find((c) => c.key === sort.key) ?? cols[2]!;
  const cmp = (a: Value, b: Value): number => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1);
  // The baseline stays on top; experiments sort by the chosen column.
  const sorted = [...rows].sort((a, b) => (a.kind !== b.kind ? (a.kind === 'baseline' ? -1 : 1) : (sort.desc ? -1 : 1) * cmp(col.get(a), col.get(b))));
  const numeric = metrics.filter((k) => { const [f, m] = k.split('\t') as [string, string]; return rows.some((r) => typeof r.metrics[f]?.[m] === 'number'); });
  const [pick, setPick] = useState('');
  const chosen = pick || numeric[0] || '';
  const [pf, pm] = chosen.split('\t') as [string, string];
  return (
    <>
      <h2>Experiments</h2>
      <div class="toolbar">
        <label><input type="checkbox" checked={all} onChange={() => setAll(!all)} /> of every baseline (not only HEAD's)</label>
        <a href={href('metrics')}>‹ metrics</a>
        {d.data?.hidden ? <span class="muted">{d.data.hidden} experiment(s) need a key that reads everything</span> : null}
      </div>
      <Box error={d.error} loading={d.loading}>
        {d.data?.error ? <p class="error">{d.data.error}</p> : (
          <div class="scrollx">
            <table class="grid" data-testid="experiments">
              <thead>
                <tr>{cols.map((c) => (
                  <th key={c.key} class={`sortable ${c.num ? 'num' : ''}`} data-col={c.key} onClick={() => setSort({ key: c.key, desc: sort.key === c.key ? !sort.desc : false })}>
                    {c.label}{sort.key === c.key ? (sort.desc ? ' ▼' : ' ▲') : ''}
                  </th>
                ))}<th>run</th></tr>
              </thead>
              <tbody>
                {sorted.map((r) => (
                  <tr key={r.name} data-exp={r.name} class={r.kind === 'baseline' ? 'baseline' : ''}>
                    {cols.map((c) => (
                      <td key={c.key} class={c.num ? 'num' : ''}>
                        {c.key === 'status' ? (r.status ? <Badge s={r.status} /> : '') : c.key === 'created' ? (r.created ? new Date(r.created).toLocaleString() : '') : show(c.get(r))}
                      </td>
                    ))}
                    <td>{r.runId ? <a href={href('run', [r.runId])}><code>{short(r.runId)}</code></a> : ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Box>
      {chosen && rows.length ? (
        <>
          <h3>
            <select data-testid="exp-metric-pick" value={chosen} onChange={(e) => setPick((e.target as HTMLSelectElement).value)}>
              {numeric.map((k) => <option key={k} value={k}>{k.replace('\t', ': ')}</option>)}
            </select> over the experiments
          </h3>
          <Chart testid="exp-chart" points x={sorted.map((r) => r.name)} xLabel="experiment"
            series={[{ label: pm, y: sorted.map((r) => { const v = r.metrics[pf]?.[pm]; return typeof v === 'number' ? v : null; }) }]} />
        </>
      ) : null}
    </>
  );
}

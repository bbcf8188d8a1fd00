// The stage DAG of dv.yaml, laid out by dagre, each stage coloured by how it did in
// the newest run on the ref (or the state the ref's commit carries).
import { useState } from 'preact/hooks';
import { get } from '../api';
import { useLoad } from '../load';
import { Graph } from '../parts/Graph';
import { Badge, Box } from '../parts/common';
import { href } from '../route';

interface DagDoc {
  ref: string | null; run: string | null; note?: string;
  stages: { name: string; foreach: string | null; deps: string[]; outs: string[]; status: string; datums: number }[];
  edges: { from: string; to: string; via: string[] }[];
}

export function DagPage(p: { refName?: string }) {
  const [ref, setRef] = useState(p.refName ?? 'HEAD');
  const d = useLoad(p.refName ?? 'HEAD', () => get<DagDoc>('dag', { ref: p.refName ?? 'HEAD' }));
  return (
    <>
      <h2>Stage graph</h2>
      <form class="toolbar" onSubmit={(e) => { e.preventDefault(); location.hash = href('dag', [], { ref }); }}>
        <label>state on <input value={ref} onInput={(e) => setRef((e.target as HTMLInputElement).value)} /></label><button type="submit">show</button>
        {d.data?.run ? <span class="muted">as of run <a href={href('run', [d.data.run])}><code>{d.data.run.slice(0, 10)}</code></a></span> : null}
      </form>
      <Box error={d.error} loading={d.loading}>
        {d.data?.note ? <p class="muted">{d.data.note}</p> : null}
        {d.data ? (
          <>
            <Graph testid="dag" rankdir="LR"
              nodes={d.data.stages.map((s) => ({ id: s.name, label: s.name, sub: `${s.status}${s.foreach ? ` · foreach ${s.foreach}` : ''}`, cls: `s-${s.status}`, href: d.data!.run ? href('run', [d.data!.run, s.name]) : undefined }))}
              edges={d.data.edges.map((e) => ({ from: e.from, to: e.to, label: e.via.join(', ') }))} />
            <table class="grid">
              <thead><tr><th>stage</th><th>state</th><th>deps</th><th>outs</th><th class="num">datums in state</th></tr></thead>
              <tbody>{d.data.stages.map((s) => <tr key={s.name}><td>{s.name}</td><td><Badge s={s.status} /></td><td>{s.deps.join(', ')}</td><td>{s.outs.join(', ')}</td><td class="num">{s.datums}</td></tr>)}</tbody>
            </table>
          </>
        ) : null}
      </Box>
    </>
  );
}

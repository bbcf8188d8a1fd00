// A directed graph laid out by dagre (ranks, crossing reduction, edge routing) and
// drawn as SVG: used for the stage DAG, the lineage of a file and commit history.
import dagre from '@dagrejs/dagre';
import { useMemo } from 'preact/hooks';

export interface GNode {
  id: string;
  label: string;
  sub?: string;
  cls?: string;
  href?: string;
}

export interface GEdge {
  from: string;
  to: string;
  label?: string;
}

const CHAR_W = 7.2;
const H = 40;

export function Graph(props: { nodes: GNode[]; edges: GEdge[]; rankdir?: 'LR' | 'TB'; testid?: string }) {
  const layout = useMemo(() => {
    const g = new dagre.graphlib.Graph({ multigraph: false });
    g.setGraph({ rankdir: props.rankdir ?? 'LR', nodesep: 24, ranksep: 56, marginx: 12, marginy: 12 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const n of props.nodes) {
      const w = Math.max(n.label.length, (n.sub ?? '').length * 0.9) * CHAR_W + 28;
      g.setNode(n.id, { width: Math.min(w, 340), height: n.sub ? H + 8 : H });
    }
    for (const e of props.edges) if (g.hasNode(e.from) && g.hasNode(e.to)) g.setEdge(e.from, e.to, { label: e.label });
    dagre.layout(g);
    return g;
  }, [props.nodes, props.edges, props.rankdir]);
  const gg = layout.graph();
  const width = (gg.width ?? 100) + 4;
  const height = (gg.height ?? 100) + 4;
  return (
    <div class="graph" data-testid={props.testid}>
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img">
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" />
          </marker>
        </defs>
        {layout.edges().map((e) => {
          const pts = layout.edge(e).points ?? [];
          const d = pts.map((p: { x: number; y: number }, i: number) => `${i ? 'L' : 'M'} ${p.x} ${p.y}`).join(' ');
          return <path key={`${e.v}>${e.w}`} d={d} class="edge" marker-end="url(#arrow)" />;
        })}
        {props.nodes.map((n) => {
          const p = layout.node(n.id);
          if (!p) return null;
          const body = (
            <g class={`node ${n.cls ?? ''}`} transform={`translate(${p.x - p.width / 2}, ${p.y - p.height / 2})`} data-node={n.id}>
              <rect width={p.width} height={p.height} rx="6" />
              <text x={p.width / 2} y={n.sub ? 18 : p.height / 2 + 4} text-anchor="middle" class="label">{clip(n.label, p.width)}</text>
              {n.sub ? <text x={p.width / 2} y={36} text-anchor="middle" class="sub">{clip(n.sub, p.width)}</text> : null}
            </g>
          );
          return n.href ? <a key={n.id} href={n.href}>{body}</a> : <g key={n.id}>{body}</g>;
        })}
      </svg>
    </div>
  );
}

function clip(s: string, w: number): string {
  const max = Math.floor((w - 16) / CHAR_W);
  return s.length > max ? `${s.slice(0, Math.max(1, max - 1))}…` : s;
}

// Lineage of a file: from it back through the datums and stages that made it to the
// inputs and code versions they read. Every node links to its file or run.
import { useState } from 'preact/hooks';
import { get, short } from '../api';
import { useLoad } from '../load';
import { Graph, type GEdge, type GNode } from '../parts/Graph';
import { Box } from '../parts/common';
import { fileHref, href } from '../route';

interface LNode {
  path: string; hash: string | null; kind: 'source' | 'output'; stage?: string; datum?: string; cmd?: string;
  run?: string; git?: { commit: string; dirty: boolean } | null; matches?: boolean; inputs: LNode[];
}

function toGraph(root: LNode, ref: string): { nodes: GNode[]; edges: GEdge[] } {
  const nodes = new Map<string, GNode>();
  const edges: GEdge[] = [];
  const visit = (n: LNode): string => {
    const fid = `f:${n.path}`;
    if (!nodes.has(fid)) nodes.set(fid, { id: fid, label: n.path, sub: n.hash ? short(n.hash) : n.kind, cls: `k-${n.kind}`, href: fileHref(ref, n.path) });
    if (n.run && n.stage) {
      const sid = `d:${n.stage}:${n.datum ?? ''}`;
      if (!nodes.has(sid)) {
        nodes.set(sid, { id: sid, label: `${n.stage}${n.datum ? ` [${n.datum.split('/').pop()}]` : ''}`, sub: `run ${short(n.run)}${n.git ? ` · git ${n.git.commit.slice(0, 7)}` : ''}`, cls: 'k-stage', href: href('run', [n.run, n.stage]) });
        for (const i of n.inputs) edges.push({ from: visit(i), to: sid });
      }
      edges.push({ from: sid, to: fid });
    }
    return fid;
  };
  visit(root);
  return { nodes: [...nodes.values()], edges };
}

export function LineagePage(p: { refName?: string; path?: string }) {
  const [ref, setRef] = useState(p.refName ?? 'HEAD');
  const [path, setPath] = useState(p.path ?? '');
  const d = useLoad(`${p.refName}:${p.path}`, () => (p.path ? get<{ ref: string; commit: string; root: LNode }>('lineage', { ref: p.refName ?? 'HEAD', path: p.path }) : Promise.resolve(null)));
  const g = d.data ? toGraph(d.data.root, d.data.ref) : null;
  return (
    <>
      <h2>Lineage</h2>
      <form class="toolbar" onSubmit={(e) => { e.preventDefault(); location.hash = href('lineage', [], { ref, path }); }}>
        <label>ref <input value={ref} onInput={(e) => setRef((e.target as HTMLInputElement).value)} /></label>
        <label>path <input value={path} size={40} data-testid="lineage-path" onInput={(e) => setPath((e.target as HTMLInputElement).value)} /></label>
        <button type="submit">trace</button>
      </form>
      <Box error={d.error} loading={d.loading}>
        {g ? (
          <>
            <Graph testid="lineage" rankdir="LR" nodes={g.nodes} edges={g.edges} />
            {d.data!.root.kind === 'source' ? <p class="muted">{d.data!.root.path} is source data: no stage produced it.</p> : null}
            {d.data!.root.matches === false ? <p class="del">The file at this ref differs from what the run produced (edited after).</p> : null}
            {d.data!.root.cmd ? <p>made by <code>{d.data!.root.cmd}</code></p> : null}
          </>
        ) : p.path ? null : <p class="muted">Give a ref and a file path (or follow a "lineage" link from the file browser).</p>}
      </Box>
    </>
  );
}

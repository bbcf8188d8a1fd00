// The stage DAG. Edges come from files: a stage depends on another when one of its
// deps (or its foreach glob) overlaps the other's outs; `after` adds explicit edges.
import { DvError } from '../store/errors.js';
import { globMayMatch, overlaps, isUnder } from './paths.js';
import type { StageConfig } from './types.js';

export interface StageGraph {
  /** Stage names in file order (ties in every ordering are broken by it). */
  stages: string[];
  /** upstream -> downstream -> what links them (paths, or 'after'). */
  edges: Map<string, Map<string, string[]>>;
  upstream: Map<string, string[]>;
  downstream: Map<string, string[]>;
}

/** What links `up` to `down`, or [] when nothing does. */
export function linksBetween(up: StageConfig, down: StageConfig): string[] {
  const via = new Set<string>();
  for (const o of up.outs) {
    for (const d of down.deps) if (overlaps(o, d)) via.add(isUnder(d, o) ? d : o);
    if (down.foreach !== null && globMayMatch(down.foreach, o)) via.add(down.foreach);
  }
  if (down.after.includes(up.name)) via.add('after');
  return [...via];
}

export function buildGraph(stages: Map<string, StageConfig>): StageGraph {
  const names = [...stages.keys()];
  const edges = new Map<string, Map<string, string[]>>();
  const upstream = new Map<string, string[]>(names.map((n) => [n, []]));
  const downstream = new Map<string, string[]>(names.map((n) => [n, []]));
  for (const a of names) {
    for (const b of names) {
      if (a === b) continue;
      const via = linksBetween(stages.get(a)!, stages.get(b)!);
      if (via.length === 0) continue;
      if (!edges.has(a)) edges.set(a, new Map());
      edges.get(a)!.set(b, via);
      downstream.get(a)!.push(b);
      upstream.get(b)!.push(a);
    }
  }
  return { stages: names, edges, upstream, downstream };
}

/** A dependency cycle as [a, b, ..., a], or null. */
export function findCycle(g: StageGraph): string[] | null {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 1);
    stack.push(n);
    for (const m of g.downstream.get(n) ?? []) {
      const s = state.get(m);
      if (s === 1) return [...stack.slice(stack.indexOf(m)), m];
      if (s === undefined) {
        const c = visit(m);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return null;
  };
  for (const n of g.stages) {
    if (state.has(n)) continue;
    const c = visit(n);
    if (c) return c;
  }
  return null;
}

/** Upstream before downstream; independent stages keep file order. */
export function topoOrder(g: StageGraph): string[] {
  const cycle = findCycle(g);
  if (cycle) throw new DvError(`dependency cycle: ${cycle.join(' -> ')}`);
  const index = new Map(g.stages.map((n, i) => [n, i]));
  const indeg = new Map(g.stages.map((n) => [n, g.upstream.get(n)!.length]));
  const ready = g.stages.filter((n) => indeg.get(n) === 0);
  const out: string[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => index.get(a)! - index.get(b)!);
    const n = ready.shift()!;
    out.push(n);
    for (const m of g.downstream.get(n)!) {
      const d = indeg.get(m)! - 1;
      indeg.set(m, d);
      if (d === 0) ready.push(m);
    }
  }
  return out;
}

export function checkStageNames(g: StageGraph, names: string[]): void {
  for (const t of names) {
    if (!g.upstream.has(t)) {
      const known = g.stages.length ? g.stages.join(', ') : 'none';
      throw new DvError(`unknown stage '${t}' (stages: ${known})`);
    }
  }
}

/** The targets and everything they depend on, in topological order (all stages if none given). */
export function selectStages(g: StageGraph, targets: string[]): string[] {
  checkStageNames(g, targets);
  const order = topoOrder(g);
  if (targets.length === 0) return order;
  const keep = new Set<string>();
  const add = (n: string): void => {
    if (keep.has(n)) return;
    keep.add(n);
    for (const u of g.upstream.get(n)!) add(u);
  };
  targets.forEach(add);
  return order.filter((n) => keep.has(n));
}

/** The stages downstream of `names` (excluded), in topological order. */
export function downstreamOf(g: StageGraph, names: string[]): string[] {
  const seen = new Set<string>();
  const add = (n: string): void => {
    for (const d of g.downstream.get(n)!) {
      if (!seen.has(d)) {
        seen.add(d);
        add(d);
      }
    }
  };
  names.forEach(add);
  return topoOrder(g).filter((n) => seen.has(n) && !names.includes(n));
}

export interface RenderOptions {
  ascii?: boolean;
}

/**
 * `dv dag`: an indented tree from each root, one line per edge. A stage reached
 * a second time (diamonds) is printed once more, marked, without its subtree.
 */
export function renderDag(stages: Map<string, StageConfig>, g: StageGraph, opts: RenderOptions = {}): string {
  if (g.stages.length === 0) return '(no stages)\n';
  const [tee, elbow, bar] = opts.ascii ? ['+--> ', '`--> ', '|    '] : ['├──▶ ', '└──▶ ', '│    '];
  const lines: string[] = [];
  const printed = new Set<string>();
  const describe = (name: string): string => {
    const s = stages.get(name)!;
    const parts = [name];
    if (s.foreach !== null) parts.push(`[foreach ${s.foreach}]`);
    if (s.outs.length > 0) parts.push(`-> ${s.outs.join(', ')}`);
    return parts.join('  ');
  };
  const walk = (name: string, prefix: string): void => {
    const kids = g.downstream.get(name)!;
    kids.forEach((kid, i) => {
      const last = i === kids.length - 1;
      const via = g.edges.get(name)!.get(kid)!.join(', ');
      const seen = printed.has(kid);
      lines.push(`${prefix}${last ? elbow : tee}${seen ? kid + '  (see above)' : describe(kid)}  (via ${via})`);
      if (!seen) {
        printed.add(kid);
        walk(kid, prefix + (last ? '     ' : bar));
      }
    });
  };
  for (const root of g.stages.filter((n) => g.upstream.get(n)!.length === 0)) {
    printed.add(root);
    lines.push(describe(root));
    walk(root, '');
  }
  return lines.join('\n') + '\n';
}

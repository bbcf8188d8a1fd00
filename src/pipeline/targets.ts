// `dv run TARGET...` where a target is a stage name, or an output path or glob (the
// DataBuild way: `dv run data/clean/2024-01-03.csv`). A path inside a foreach stage's
// outs directory selects just the datums that produce it, and, through the stage's
// input glob, just the upstream datums those read; deps and everything else upstream
// are brought up to date whole. Nothing downstream runs.
import { DvError } from '../store/errors.js';
import { buildGraph, selectStages } from './graph.js';
import { isUnder, matcher, overlaps } from './paths.js';
import type { PipelineConfig, StageConfig } from './types.js';

export interface Selection {
  /** Stages to run, upstream first. */
  stages: string[];
  /** Per foreach stage limited to some datums: patterns over the datum's path below the glob base. */
  only: Map<string, string[]>;
}

const isGlob = (s: string): boolean => /[*?[\]{}]/.test(s);

function pathMatches(target: string, p: string): boolean {
  return isGlob(target) ? matcher(target)(p) : overlaps(target, p);
}

/** Which stages produce `target`, whole or (foreach) for the datums whose rel matches. */
function producers(config: PipelineConfig, target: string): { stage: StageConfig; rel: string | null }[] {
  const out: { stage: StageConfig; rel: string | null }[] = [];
  for (const s of config.stages.values()) {
    if (s.foreach !== null) {
      const dir = s.outs[0]!;
      if (target.startsWith(dir + '/')) out.push({ stage: s, rel: target.slice(dir.length + 1) });
      else if (target === dir || (!isGlob(target) && isUnder(dir, target))) out.push({ stage: s, rel: null });
    } else if (s.outs.some((o) => pathMatches(target, o))) out.push({ stage: s, rel: null });
  }
  return out;
}

export function selectTargets(config: PipelineConfig, targets: string[]): Selection {
  const graph = buildGraph(config.stages);
  if (targets.length === 0) return { stages: selectStages(graph, []), only: new Map() };
  const whole = new Set<string>();
  const only = new Map<string, Set<string>>();
  const visit = (target: string, top: boolean): void => {
    if (top && config.stages.has(target)) {
      whole.add(target);
      return;
    }
    const found = producers(config, target.replace(/\/+$/, ''));
    if (found.length === 0 && top) {
      if (!target.includes('/') && !isGlob(target)) throw new DvError(`unknown stage '${target}' (stages: ${[...config.stages.keys()].join(', ')}), nor an output of one`, 2);
      throw new DvError(`${target}: not a stage, nor an output of one`, 2);
    }
    for (const { stage, rel } of found) {
      if (rel === null) {
        whole.add(stage.name);
        continue;
      }
      if (!only.has(stage.name)) only.set(stage.name, new Set());
      only.get(stage.name)!.add(rel);
      // The datums read their input through the foreach glob: only those upstream.
      visit(stage.foreachBase ? `${stage.foreachBase}/${rel}` : rel, false);
      // Deps and explicit `after` stages are needed whole.
      for (const u of graph.upstream.get(stage.name)!) {
        const up = config.stages.get(u)!;
        const viaDeps = stage.deps.some((d) => up.outs.some((o) => overlaps(o, d))) || stage.after.includes(u);
        if (viaDeps) whole.add(u);
      }
    }
  };
  for (const t of targets) visit(t, true);
  const closure = new Set(selectStages(graph, [...whole]));
  const names = selectStages(graph, [...whole, ...only.keys()]);
  const limited = new Map<string, string[]>();
  for (const [s, rels] of only) if (!closure.has(s)) limited.set(s, [...rels].sort());
  return { stages: names, only: limited };
}

/** Whether a datum (its path below the glob base) is one a limited stage should run. */
export function datumWanted(patterns: string[] | undefined, rel: string | null): boolean {
  if (!patterns) return true;
  if (rel === null) return false;
  return patterns.some((p) => (isGlob(p) ? matcher(p)(rel) : p === rel || isUnder(rel, p)));
}

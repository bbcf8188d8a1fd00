// dv dag, dv runs, dv runs show, dv lineage: read-only views over dv.yaml and run records.
import type { Repo } from '../repo/repo.js';
import { DvError } from '../store/errors.js';
import { loadPipeline } from './load.js';
import { buildGraph, renderDag, topoOrder, type RenderOptions } from './graph.js';
import { isUnder } from './paths.js';
import { PipelineStore, type RunSummary } from './records.js';
import type { DatumState, GitInfoLike, Params, PipelineState, RunRecord } from './types.js';

export async function listRuns(repo: Repo, opts: { limit?: number } = {}): Promise<RunSummary[]> {
  const store = new PipelineStore(repo);
  await store.sync();
  return store.listRuns(opts.limit);
}

export interface RunDetails {
  record: RunRecord;
  /** `stage:datum` -> captured stdout/stderr with the command and attempts. */
  logs: Record<string, string>;
}

export async function showRun(repo: Repo, id: string, opts: { logs?: boolean } = {}): Promise<RunDetails> {
  const store = new PipelineStore(repo);
  await store.sync();
  const record = await store.readRecord(store.resolveRun(id));
  const logs: Record<string, string> = {};
  if (opts.logs !== false) {
    for (const s of record.stages) {
      for (const d of s.datums) if (d.log) logs[`${s.name}:${d.id}`] = await store.readLog(d.log);
    }
  }
  return { record, logs };
}

export interface LineageNode {
  path: string;
  /** Checksum recorded by the run (or the commit, for source data); null if unknown. */
  hash: string | null;
  /** Source data (no stage produced it), or the stage that did. */
  kind: 'source' | 'output';
  stage?: string;
  datum?: string;
  cmd?: string;
  params?: Params;
  run?: string;
  runStartedAt?: string;
  git?: GitInfoLike | null;
  /** False when the file at the ref differs from what the run produced (edited after). */
  matches?: boolean;
  /** Datum input and deps, each traced further when a stage produced it. */
  inputs: LineageNode[];
}

interface Producer {
  stage: string;
  datum: string;
  state: DatumState;
}

/**
 * Walks from an output back to the inputs, stages and code that made it, using the
 * pipeline state recorded with the commit at REF. Directory deps are listed with the
 * stages that wrote into them rather than expanded file by file.
 */
export async function lineage(repo: Repo, spec: string): Promise<LineageNode> {
  const colon = spec.indexOf(':');
  if (colon <= 0 || colon === spec.length - 1) throw new DvError(`expected REF:PATH, got '${spec}'`, 2);
  const ref = spec.slice(0, colon);
  const file = spec.slice(colon + 1).replace(/^\/+|\/+$/g, '');
  const commit = await repo.resolve(ref);
  const entry = await repo.lookup(commit, file);
  if (!entry) throw new DvError(`${file} does not exist at ${ref}`);
  if (entry.type !== 'file') throw new DvError(`${file} is a directory at ${ref}; lineage traces files`);
  const store = new PipelineStore(repo);
  await store.sync();
  const { state } = await store.stateAt(commit);
  const producers = indexProducers(state);
  const records = new Map<string, RunRecord | null>();
  const recordOf = async (run: string): Promise<RunRecord | null> => {
    if (!records.has(run)) records.set(run, await store.readRecord(run).catch(() => null));
    return records.get(run)!;
  };
  const seen = new Set<string>();
  const trace = async (p: string, hash: string | null): Promise<LineageNode> => {
    const prod = producers.get(p);
    if (!prod || seen.has(p)) return { path: p, hash, kind: prod ? 'output' : 'source', stage: prod?.stage, inputs: [] };
    seen.add(p);
    const rec = await recordOf(prod.state.run);
    const node: LineageNode = {
      path: p, hash: prod.state.outputs[p] ?? null, kind: 'output', stage: prod.stage, datum: prod.datum,
      cmd: prod.state.cmd, params: prod.state.params, run: prod.state.run, runStartedAt: rec?.startedAt,
      git: rec?.git ?? null, matches: hash === null || hash === prod.state.outputs[p], inputs: [],
    };
    if (prod.datum !== '') node.inputs.push(await trace(prod.datum, prod.state.inputHash));
    for (const [dep, depHash] of Object.entries(prod.state.deps)) {
      if (producers.has(dep)) node.inputs.push(await trace(dep, depHash));
      else {
        const writers = [...new Set([...producers].filter(([o]) => isUnder(o, dep)).map(([, w]) => w.stage))].sort();
        node.inputs.push({ path: dep, hash: depHash || null, kind: writers.length ? 'output' : 'source', stage: writers.join(', ') || undefined, inputs: [] });
      }
    }
    return node;
  };
  return trace(file, entry.hash);
}

function indexProducers(state: PipelineState): Map<string, Producer> {
  const out = new Map<string, Producer>();
  for (const [stage, s] of Object.entries(state)) {
    for (const [datum, d] of Object.entries(s.datums)) {
      for (const o of Object.keys(d.outputs)) out.set(o, { stage, datum, state: d });
    }
  }
  return out;
}

export interface DagInfo {
  stages: { name: string; foreach: string | null; deps: string[]; outs: string[]; upstream: string[] }[];
  /** In topological order. */
  order: string[];
  text: string;
}

/** dv dag: the stage graph of `<root>/dv.yaml`, as text and as data (for --json). */
export function dag(root: string, opts: RenderOptions = {}): DagInfo {
  const config = loadPipeline(root);
  const g = buildGraph(config.stages);
  const stages = [...config.stages.values()].map((s) => ({
    name: s.name, foreach: s.foreach, deps: s.deps, outs: s.outs, upstream: g.upstream.get(s.name)!,
  }));
  return { stages, order: topoOrder(g), text: renderDag(config.stages, g, opts) };
}

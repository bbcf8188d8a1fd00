// dv exp show / apply / branch / remove, over the run records that name an
// experiment (so pulled experiments are listed as well as local ones). Plain data for
// the CLI table and the web console.
import fs from 'node:fs';
import path from 'node:path';
import { checkout } from '../repo/checkout.js';
import { createBranch } from '../repo/history.js';
import type { Repo } from '../repo/repo.js';
import { getMeta, setMeta } from '../store/db.js';
import { DvError } from '../store/errors.js';
import { writeParamsFiles } from './dvc-yaml.js';
import { loadPipeline } from './load.js';
import { metricFiles, metricsOf, type Metrics } from './metrics.js';
import { OutputReader } from './outputs-at.js';
import type { Params, RunRecord } from './types.js';

export interface ExpRow {
  name: string;
  /** 'baseline' for the row of HEAD. */
  kind: 'baseline' | 'experiment';
  runId: string | null;
  status: RunRecord['status'] | null;
  created: string | null;
  commit: string | null;
  baseline: string | null;
  /** Params the experiment set (the baseline row: all its params). */
  params: Params;
  metrics: Metrics;
}

const removedKey = (name: string): string => `exp-removed:${name}`;

/** The newest run record of each experiment not removed, newest first. */
async function experiments(repo: Repo, reader: OutputReader): Promise<RunRecord[]> {
  const byName = new Map<string, RunRecord>();
  for (const s of reader.store.listRuns()) {
    if (!s.experiment || byName.has(s.experiment) || getMeta(repo.db, removedKey(s.experiment))) continue;
    byName.set(s.experiment, await reader.store.readRecord(s.id));
  }
  return [...byName.values()];
}

export async function expShow(repo: Repo, opts: { all?: boolean } = {}): Promise<ExpRow[]> {
  const reader = await OutputReader.open(repo);
  const files = metricFiles(loadPipeline(repo.root));
  const head = repo.headCommit();
  const rows: ExpRow[] = [];
  if (head) {
    const run = await reader.runAt(head);
    const c = await repo.readCommit(head);
    rows.push({
      name: 'HEAD', kind: 'baseline', runId: run?.id ?? null, status: run?.status ?? null, created: c.time, commit: head,
      baseline: null, params: run?.params ?? {}, metrics: (await metricsOf(reader, { name: 'HEAD', commit: head }, files)).metrics,
    });
  }
  for (const r of await experiments(repo, reader)) {
    const e = r.experiment!;
    if (!opts.all && e.baseline !== head) continue;
    const metrics = r.commit || r.status === 'succeeded'
      ? (await metricsOf(reader, { name: e.name, commit: r.commit ?? e.baseline }, files)).metrics : {};
    rows.push({
      name: e.name, kind: 'experiment', runId: r.id, status: r.status, created: r.startedAt,
      commit: r.commit ?? (r.status === 'succeeded' ? e.baseline : null), baseline: e.baseline, params: e.overrides, metrics,
    });
  }
  return rows;
}

async function find(repo: Repo, name: string): Promise<RunRecord> {
  const reader = await OutputReader.open(repo);
  const all = await experiments(repo, reader);
  const r = all.find((x) => x.experiment!.name === name) ?? all.find((x) => x.id.startsWith(name) && name.length >= 4);
  if (!r) throw new DvError(`unknown experiment '${name}'`);
  return r;
}

async function commitOf(repo: Repo, name: string): Promise<{ record: RunRecord; commit: string }> {
  const record = await find(repo, name);
  const commit = record.commit ?? (record.status === 'succeeded' ? record.experiment!.baseline : null);
  if (!commit) throw new DvError(`experiment ${record.experiment!.name} ${record.status}: it has no results to use`);
  return { record, commit };
}

/**
 * dv exp apply: the workspace gets the experiment's outputs (committed ones by a
 * checkout of those paths, `cache: false` ones from the run-cache) and its params.
 * HEAD does not move; a following `dv run` commits it from the run-cache.
 */
export async function expApply(repo: Repo, name: string, opts: { force?: boolean } = {}): Promise<{ name: string; commit: string; written: string[] }> {
  const { record, commit } = await commitOf(repo, name);
  const config = loadPipeline(repo.root);
  const reader = await OutputReader.open(repo);
  const uncached = [...config.stages.values()].flatMap((s) => s.uncached);
  const head = repo.headCommit();
  const plain: [string, Buffer][] = [];
  for (const u of uncached) {
    const want = await reader.read({ name, commit }, u);
    if (!want) continue;
    const now = await reader.read({ name: 'workspace', commit: null }, u);
    const atHead = head ? await reader.read({ name: 'HEAD', commit: head }, u) : null;
    if (!opts.force && now && !now.equals(want) && !(atHead && now.equals(atHead))) {
      throw new DvError(`exp apply would overwrite uncommitted changes in ${u}; use --force`);
    }
    plain.push([u, want]);
  }
  const tracked = (await repo.readCommit(commit)).paths;
  const outs = [...config.stages.values()].flatMap((s) => s.outs).filter((o) => tracked.some((t) => o === t || o.startsWith(t + '/')));
  const res = outs.length ? await checkout(repo, commit, { paths: outs, force: opts.force }) : { written: [] as string[] };
  for (const [u, bytes] of plain) {
    fs.mkdirSync(path.dirname(path.join(repo.root, u)), { recursive: true });
    fs.writeFileSync(path.join(repo.root, u), bytes);
  }
  if (config.paramFiles) writeParamsFiles(repo.root, record.experiment!.overrides);
  return { name: record.experiment!.name, commit, written: [...res.written, ...plain.map(([u]) => u)].sort() };
}

/** dv exp branch: a branch at the experiment's commit. */
export async function expBranch(repo: Repo, name: string, branch: string): Promise<{ branch: string; commit: string }> {
  const { commit } = await commitOf(repo, name);
  const b = await createBranch(repo, branch, commit);
  return { branch: b.name, commit: b.commit };
}

/** dv exp remove: hidden from exp show, its ref dropped (the run record stays, as runs do). */
export async function expRemove(repo: Repo, names: string[]): Promise<string[]> {
  const records = await Promise.all(names.map((n) => find(repo, n)));
  return repo.withLock('exp remove', () => records.map((r) => {
    const n = r.experiment!.name;
    repo.refs.delete(`exps/${n}`);
    setMeta(repo.db, removedKey(n), new Date().toISOString());
    return n;
  }));
}

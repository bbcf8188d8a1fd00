// /ui/api/dag: the stage graph of dv.yaml with each stage's state on a ref;
// /ui/api/lineage: a file's provenance tree (src/pipeline/history.ts) at a ref.
import fs from 'node:fs';
import path from 'node:path';
import { buildGraph } from '../../pipeline/graph.js';
import { dag, lineage as traceLineage, listRuns } from '../../pipeline/history.js';
import { loadConfig } from '../../pipeline/config.js';
import { PipelineStore } from '../../pipeline/records.js';
import type { Repo } from '../../repo/repo.js';
import { mayReadRun, resolveFor } from '../access.js';
import type { Query } from '../http.js';
import type { Principal } from '../session.js';
import { cleanPath } from './versions.js';

export async function stageDag(repo: Repo, p: Principal, q: Query): Promise<unknown> {
  if (!fs.existsSync(path.join(repo.root, 'dv.yaml'))) return { ref: null, stages: [], edges: [], note: 'no dv.yaml in this project' };
  const r = await resolveFor(repo, p, q.str('ref', 'HEAD'));
  const info = dag(repo.root);
  const g = buildGraph(loadConfig(repo.root).stages);
  const store = new PipelineStore(repo);
  await store.sync();
  const { state, run: stateRun } = await store.stateAt(r.commit);
  // The newest run on the branch says how each stage did last (also when it failed and made no commit).
  const latest = r.kind === 'branch'
    ? (await listRuns(repo)).find((x) => x.branch === r.ref && mayReadRun(p, x.branch))?.id ?? stateRun : stateRun;
  const record = latest ? await store.readRecord(latest).catch(() => null) : null;
  const stages = info.stages.map((s) => {
    const ran = record?.stages.find((x) => x.name === s.name);
    return {
      ...s, datums: Object.keys(state[s.name]?.datums ?? {}).length,
      status: ran?.status ?? (state[s.name] ? 'succeeded' : 'never-run'), counts: ran?.counts ?? null,
    };
  });
  const edges = [...g.edges].flatMap(([from, m]) => [...m].map(([to, via]) => ({ from, to, via })));
  return { ref: r.ref, commit: r.commit, run: record?.id ?? null, order: info.order, stages, edges };
}

export async function fileLineage(repo: Repo, p: Principal, q: Query): Promise<unknown> {
  const r = await resolveFor(repo, p, q.str('ref', 'HEAD'));
  const file = cleanPath(q.str('path'));
  return { ref: r.ref, commit: r.commit, root: await traceLineage(repo, `${r.commit}:${file}`) };
}

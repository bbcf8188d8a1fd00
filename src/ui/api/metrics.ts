// /ui/api/metrics and /ui/api/plots: metrics and params of revisions side by side, each
// compared with HEAD, and the data of the pipeline's plots, from the pipeline library
// (src/pipeline/metrics.ts, plots.ts: what dv metrics show/diff, dv params diff and dv
// plots show compute). Revisions are refs the key may read (checked like every other
// route), each optionally with its first-parent ancestors (n), for a metric over commits.
import { loadPipeline } from '../../pipeline/load.js';
import { diffMetrics, diffParams, metricFiles, metricsOf, paramsOf } from '../../pipeline/metrics.js';
import { OutputReader, type Revision } from '../../pipeline/outputs-at.js';
import { plotsData } from '../../pipeline/plots.js';
import type { Repo } from '../../repo/repo.js';
import { resolveFor } from '../access.js';
import { badRequest, type Query } from '../http.js';
import type { Principal } from '../session.js';

const MAX_REVS = 50;

/** `refs` (comma-separated, default HEAD), each followed by up to n-1 ancestors. */
async function revisionsFor(repo: Repo, p: Principal, q: Query): Promise<Revision[]> {
  const names = q.str('refs', 'HEAD').split(',').map((s) => s.trim()).filter(Boolean);
  const n = Math.max(1, Math.min(MAX_REVS, Number(q.opt('n') ?? 1) || 1));
  if (names.length === 0 || names.length > MAX_REVS) throw badRequest(`name 1 to ${MAX_REVS} refs`);
  const out: Revision[] = [];
  for (const name of names) {
    const r = await resolveFor(repo, p, name);
    out.push({ name, commit: r.commit });
    let c: string | null = r.commit;
    for (let i = 1; i < n && c; i++) {
      c = (await repo.readCommit(c)).parents[0] ?? null;
      if (c) out.push({ name: `${name}~${i}`, commit: c });
    }
  }
  return out.slice(0, MAX_REVS);
}

/** The pipeline file may be missing or not parse: then there is nothing to show, said once. */
function pipelineOf(repo: Repo): ReturnType<typeof loadPipeline> | string {
  try {
    return loadPipeline(repo.root);
  } catch (e) {
    return (e as Error).message;
  }
}

export async function metrics(repo: Repo, p: Principal, q: Query): Promise<unknown> {
  const revs = await revisionsFor(repo, p, q);
  const config = pipelineOf(repo);
  if (typeof config === 'string') return { files: [], revisions: [], error: config };
  const files = metricFiles(config);
  const reader = await OutputReader.open(repo);
  const head = repo.headCommit();
  const headRev: Revision = { name: 'HEAD', commit: head };
  const base = head ? await metricsOf(reader, headRev, files) : null;
  const baseParams = head ? await paramsOf(repo, reader, headRev) : {};
  const revisions = [];
  for (const rev of revs) {
    const at = await metricsOf(reader, rev, files);
    const params = await paramsOf(repo, reader, rev);
    revisions.push({
      ...at, params,
      vsHead: base ? { metrics: diffMetrics(base.metrics, at.metrics), params: diffParams(baseParams, params) } : null,
    });
  }
  return { files, head, revisions, error: null };
}

export async function plots(repo: Repo, p: Principal, q: Query): Promise<unknown> {
  const revs = await revisionsFor(repo, p, q);
  const config = pipelineOf(repo);
  if (typeof config === 'string') return { plots: [], error: config };
  return { plots: await plotsData(repo, revs), error: null };
}

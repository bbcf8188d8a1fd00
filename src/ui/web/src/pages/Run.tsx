// One run: what it ran with (params, code version, options), then per stage a table of
// its datums (status, attempts, exit code, duration) whose last column is a Gantt bar
// on the run's time axis. Rows are virtualised and fetched a page at a time; clicking
// one shows that datum's log.
import { useState } from 'preact/hooks';
import { duration, get, getText, short, type Page } from '../api';
import { useLoad } from '../load';
import { Badge, Box } from '../parts/common';
import { VirtualRows } from '../parts/VirtualRows';
import { href, treeHref } from '../route';

interface StageDoc { name: string; cmd: string; status: string; counts: Record<string, number>; listed: number; failed: string[]; params: Record<string, unknown> }
interface RunDoc {
  id: string; status: string; branch: string | null; base: string | null; commit: string | null; startedAt: string; durationMs: number;
  git: { commit: string; dirty: boolean } | null; params: Record<string, unknown>; options: { jobs: number; force: boolean; stages: string[] };
  stages: StageDoc[]; error: string | null;
}
interface DatumRow { id: string; status: string; attempts: number; exitCode: number | null; durationMs: number; startMs: number; lane: number; error: string | null; hasLog: boolean }
interface DatumsDoc extends Page<DatumRow> { runDurationMs: number; estimated: boolean }

export function RunPage(p: { id: string; stage?: string }) {
  const r = useLoad(p.id, () => get<RunDoc>(`runs/${p.id}`));
  const run = r.data;
  const stage = p.stage ?? run?.stages.find((s) => s.counts.failed)?.name ?? run?.stages[0]?.name;
  return (
    <Box error={r.error} loading={r.loading}>
      {run ? (
        <>
          <h2>Run <code data-testid="run-id">{short(run.id)}</code> <Badge s={run.status} /></h2>
          <table class="facts" data-testid="run-facts">
            <tbody>
              <tr><th>branch</th><td>{run.branch ?? '(none)'}</td></tr>
              <tr><th>started</th><td>{new Date(run.startedAt).toLocaleString()} · {duration(run.durationMs)} · {run.options.jobs} job(s){run.options.force ? ' · --force' : ''}</td></tr>
              <tr><th>from → made</th><td>{run.base ? <a href={treeHref(run.base, '')}><code>{short(run.base)}</code></a> : '(empty)'} → {run.commit ? <a href={treeHref(run.commit, '')}><code>{short(run.commit)}</code></a> : '(no commit)'}</td></tr>
              <tr><th>code version</th><td>{run.git ? <code>git {run.git.commit.slice(0, 12)}{run.git.dirty ? ' (dirty)' : ''}</code> : '(not in a git repository)'}</td></tr>
              <tr><th>params</th><td>{Object.keys(run.params).length ? Object.entries(run.params).map(([k, v]) => <span key={k} class="param"><code>{k}={JSON.stringify(v)}</code> </span>) : '(none)'}</td></tr>
              {run.error ? <tr><th>error</th><td class="del">{run.error}</td></tr> : null}
            </tbody>
          </table>
          <div class="tabs" data-testid="stage-tabs">
            {run.stages.map((s) => (
              <a key={s.name} class={s.name === stage ? 'on' : ''} href={href('run', [run.id, s.name])}>
                {s.name} <Badge s={s.status} /> <span class="muted">{s.counts.run} run · {s.counts.cached} cached · {s.counts.reused} reused{s.counts.failed ? ` · ${s.counts.failed} failed` : ''}</span>
              </a>
            ))}
          </div>
          {stage ? <StageDatums key={stage} run={run} stage={run.stages.find((s) => s.name === stage)!} /> : null}
        </>
      ) : null}
    </Box>
  );
}

const ROW_H = 26;

function StageDatums(p: { run: RunDoc; stage: StageDoc }) {
  const [status, setStatus] = useState('');
  const [picked, setPicked] = useState<string | null>(p.stage.failed[0] ?? null);
  const first = useLoad(`${p.stage.name}?${status}`, () => get<DatumsDoc>(`runs/${p.run.id}/datums`, { stage: p.stage.name, status, offset: 0, limit: 1 }));
  const total = first.data?.total ?? 0;
  const scale = Math.max(1, p.run.durationMs);
  return (
    <div class="stage">
      <p class="muted"><code>{p.stage.cmd}</code></p>
      <div class="toolbar">
        <select value={status} data-testid="datum-status" onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
          <option value="">all listed datums</option><option value="failed">failed</option><option value="succeeded">succeeded</option><option value="cached">cached</option>
        </select>
        <span class="muted">{total.toLocaleString()} datums listed (reused ones are only counted){first.data?.estimated ? ' · timeline estimated from durations and jobs' : ''}</span>
      </div>
      <div class="drow dhead"><span>datum</span><span>status</span><span class="num">attempts</span><span class="num">exit</span><span class="num">duration</span><span>timeline (0 – {duration(p.run.durationMs)})</span></div>
      <Box error={first.error} loading={first.loading}>
        <VirtualRows<DatumRow> total={total} rowHeight={ROW_H} pageSize={200} listKey={`${p.run.id}/${p.stage.name}?${status}`} testid="datums"
          fetchPage={async (offset, limit) => (await get<DatumsDoc>(`runs/${p.run.id}/datums`, { stage: p.stage.name, status, offset, limit })).items}
          row={(d) => (
            <div class={`drow ${picked === d.id ? 'picked' : ''}`} data-datum={d.id} onClick={() => setPicked(d.id)}>
              <span class="ellipsis" title={d.id}>{d.id || '(stage)'}</span>
              <span><Badge s={d.status} /></span>
              <span class="num">{d.attempts}</span>
              <span class="num">{d.exitCode ?? ''}</span>
              <span class="num">{duration(d.durationMs)}</span>
              <span class="gantt"><i class={`bar s-${d.status}`} style={{ left: `${(100 * d.startMs) / scale}%`, width: `max(2px, ${(100 * d.durationMs) / scale}%)` }} title={`lane ${d.lane + 1}, +${duration(d.startMs)}`} /></span>
            </div>
          )} />
      </Box>
      {picked !== null ? <DatumLog run={p.run.id} stage={p.stage.name} datum={picked} /> : null}
    </div>
  );
}

function DatumLog(p: { run: string; stage: string; datum: string }) {
  const log = useLoad(`${p.stage}:${p.datum}`, () => getText(`runs/${p.run}/log`, { stage: p.stage, datum: p.datum }));
  return (
    <div class="log">
      <h3>Log of <code data-testid="log-datum">{p.datum || p.stage}</code></h3>
      <Box error={log.error} loading={log.loading}>
        <pre data-testid="datum-log">{log.data || '(no output captured)'}</pre>
      </Box>
    </div>
  );
}

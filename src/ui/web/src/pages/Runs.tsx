// The run list: status, stages, datum counts, duration; paged on the server. While a
// `dv run` holds the repository it says so and refreshes every few seconds, so the
// run shows up as soon as its record is written.
import { useState } from 'preact/hooks';
import { duration, get, short, type Page } from '../api';
import { useLoad } from '../load';
import { Badge, Box, Pager, Who } from '../parts/common';
import { href, treeHref } from '../route';
import { LiveRuns } from './LiveRuns';

export interface RunSummary {
  id: string; status: string; branch: string | null; commit: string | null; stages: string[]; startedAt: string; durationMs: number;
  counts: { run: number; cached: number; reused: number; removed: number; failed: number };
  /** The identity and key the run's commit records (audit), null when it says nothing. */
  who: { identity: string | null; key: string | null } | null;
}
interface RunsDoc extends Page<RunSummary> { active: { pid: number; since: string } | null }

export function Runs() {
  const [offset, setOffset] = useState(0);
  const [status, setStatus] = useState('');
  const r = useLoad(`${offset}?${status}`, () => get<RunsDoc>('runs', { offset, limit: 50, status }), 3000);
  return (
    <>
      <h2>Runs</h2>
      {r.data?.active ? <p class="live" data-testid="run-active">● a dv run is in progress (pid {r.data.active.pid}, since {new Date(r.data.active.since).toLocaleTimeString()}); this list refreshes by itself</p> : null}
      {r.data?.active ? <LiveRuns since={r.data.active.since} /> : null}
      <div class="toolbar">
        <select value={status} data-testid="runs-status" onChange={(e) => { setStatus((e.target as HTMLSelectElement).value); setOffset(0); }}>
          <option value="">all runs</option><option value="succeeded">succeeded</option><option value="failed">failed</option><option value="cancelled">cancelled</option>
        </select>
      </div>
      <Box error={r.error} loading={r.loading && !r.data}>
        <table class="grid" data-testid="runs">
          <thead><tr><th>run</th><th>status</th><th>branch</th><th>stages</th><th class="num">run</th><th class="num">cached</th><th class="num">reused</th><th class="num">failed</th><th>started</th><th class="num">duration</th><th>who</th><th>commit</th></tr></thead>
          <tbody>
            {r.data?.items.map((x) => (
              <tr key={x.id}>
                <td><a href={href('run', [x.id])}><code>{short(x.id)}</code></a></td>
                <td><Badge s={x.status} /></td>
                <td>{x.branch ?? ''}</td>
                <td>{x.stages.join(', ')}</td>
                <td class="num">{x.counts.run}</td><td class="num">{x.counts.cached}</td><td class="num">{x.counts.reused}</td>
                <td class={`num ${x.counts.failed ? 'del' : ''}`}>{x.counts.failed}</td>
                <td class="muted">{new Date(x.startedAt).toLocaleString()}</td>
                <td class="num">{duration(x.durationMs)}</td>
                <td data-testid="run-who"><Who w={x.who} /></td>
                <td>{x.commit ? <a href={treeHref(x.commit, '')}><code>{short(x.commit)}</code></a> : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {r.data ? <Pager offset={offset} limit={50} total={r.data.total} onGo={setOffset} /> : null}
      </Box>
    </>
  );
}

// The runs going on now, on the runs page: each running datum's output as it is
// written (polled from /ui/api/live every second while a run holds the repository),
// and the datums that finished most recently with their logs.
import { useState } from 'preact/hooks';
import { get, short } from '../api';
import { useLoad } from '../load';
import { Badge } from '../parts/common';

interface LiveDoc {
  hidden: boolean;
  runs: { runId: string; finished: number; failed: number; running: { stage: string; datum: string; text: string }[]; recent: { stage: string; datum: string; status: string; text: string }[] }[];
}

export function LiveRuns(p: { since: string }) {
  const live = useLoad(`live:${p.since}`, () => get<LiveDoc>('live'), 1000);
  const [open, setOpen] = useState<string | null>(null);
  const d = live.data;
  if (!d) return null;
  if (d.hidden) return <p class="muted">a run is in progress; its live logs need a key that reads everything</p>;
  return (
    <div data-testid="live-runs">
      {d.runs.map((r) => (
        <div key={r.runId} class="liverun">
          <h3>Running <code>{short(r.runId)}</code> <span class="muted">{r.finished} datum(s) finished{r.failed ? `, ${r.failed} failed` : ''}, {r.running.length} running</span></h3>
          {r.running.map((j) => (
            <div key={`${j.stage}:${j.datum}`} class="log" data-testid="live-datum" data-datum={j.datum}>
              <div><b>{j.stage}</b> <code>{j.datum || '(stage)'}</code> <Badge s="running" /></div>
              <pre data-testid="live-log">{j.text}</pre>
            </div>
          ))}
          {r.recent.length ? (
            <table class="grid" data-testid="live-recent">
              <thead><tr><th>finished datum</th><th>status</th></tr></thead>
              <tbody>
                {r.recent.map((e) => (
                  <tr key={`${e.stage}:${e.datum}`} onClick={() => setOpen(open === `${e.stage}:${e.datum}` ? null : `${e.stage}:${e.datum}`)}>
                    <td><b>{e.stage}</b> <code>{e.datum || '(stage)'}</code>{open === `${e.stage}:${e.datum}` ? <pre>{e.text || '(no output)'}</pre> : null}</td>
                    <td><Badge s={e.status} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </div>
      ))}
    </div>
  );
}

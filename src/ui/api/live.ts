// /ui/api/live: the runs going on now, read the way `dv runs logs` reads them (the
// run's journal of finished datums, the scratch directories of running ones), so the
// runs page can tail a running datum's output while the run is in progress. The page
// polls it; each answer is small: the running datums' output tails and the last few
// finished datums. A run in progress has no record yet, so no branch to check read
// patterns against: only a key that reads everything ('*') sees it.
import { liveRuns, runLogs } from '../../pipeline/logs.js';
import type { Repo } from '../../repo/repo.js';
import { readsAll } from '../access.js';
import type { Query } from '../http.js';
import type { Principal } from '../session.js';

/** Bytes of output kept from the end of each log shown. */
const TAIL = 16 << 10;
const RECENT = 20;

const tail = (s: string): string => (s.length > TAIL ? `…${s.slice(-TAIL)}` : s);

export async function live(repo: Repo, p: Principal, q: Query): Promise<unknown> {
  if (!readsAll(p)) return { runs: [], hidden: liveRuns(repo).length > 0 };
  const only = q.opt('run');
  const runs = [];
  for (const id of liveRuns(repo).filter((r) => !only || r.startsWith(only))) {
    let logs;
    try {
      logs = await runLogs(repo, id);
    } catch {
      continue; // it ended between the listing and the read
    }
    if (!logs.running) continue;
    const running = logs.entries.filter((e) => e.status === 'running');
    const finished = logs.entries.filter((e) => e.status !== 'running');
    runs.push({
      runId: logs.runId,
      finished: finished.length,
      failed: finished.filter((e) => e.status === 'failed').length,
      running: running.map((e) => ({ stage: e.stage, datum: e.datum, text: tail(e.text) })),
      recent: finished.slice(-RECENT).reverse().map((e) => ({ stage: e.stage, datum: e.datum, status: e.status, text: tail(e.text) })),
    });
  }
  return { runs, hidden: false };
}

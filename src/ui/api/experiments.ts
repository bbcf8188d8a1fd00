// /ui/api/experiments: what `dv exp show --json` prints (src/pipeline/exp-views.ts),
// for the console's experiments table. Experiments live on hidden refs (exps/NAME) and
// are reachable by commit id only, so like versions by id they need a key reading '*';
// other keys see the baseline row, when they may read HEAD's branch.
import { expShow } from '../../pipeline/exp-views.js';
import type { Repo } from '../../repo/repo.js';
import { mayRead, readsAll } from '../access.js';
import type { Query } from '../http.js';
import type { Principal } from '../session.js';

export async function experiments(repo: Repo, p: Principal, q: Query): Promise<unknown> {
  let rows;
  try {
    rows = await expShow(repo, { all: q.opt('all') === '1' });
  } catch (e) {
    return { items: [], error: (e as Error).message };
  }
  const branch = repo.head().branch;
  const mayBaseline = readsAll(p) || (branch !== null && mayRead(p, branch, 'branch'));
  const items = rows.filter((r) => (r.kind === 'baseline' ? mayBaseline : readsAll(p)));
  return { items, hidden: rows.length - items.length, error: null };
}

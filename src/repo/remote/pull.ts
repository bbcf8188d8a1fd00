// dv pull: fetch, then fast-forward the current branch and check it out. dv has no
// merge, so diverged histories are refused with what to do instead.
import { DvError } from '../../store/errors.js';
import { checkout, type CheckoutResult } from '../checkout.js';
import type { Repo } from '../repo.js';
import type { Progress } from '../snapshot.js';
import { aheadBehind, isAncestor } from './ancestry.js';
import { fetch, type FetchResult } from './fetch.js';
import type { TransferProgress } from './progress.js';

export interface PullOptions {
  remote?: string;
  jobs?: number;
  onProgress?: (p: TransferProgress | Progress) => void;
}

export interface PullResult {
  fetch: FetchResult;
  branch: string;
  old: string | null;
  new: string | null;
  status: 'up-to-date' | 'fast-forward' | 'ahead';
  checkout: CheckoutResult | null;
}

export async function pull(repo: Repo, opts: PullOptions = {}): Promise<PullResult> {
  return repo.withLock('pull', async () => {
    const branch = repo.head().branch;
    if (branch === null) throw new DvError('HEAD is detached: check out a branch to pull into');
    const fetched = await fetch(repo, { remote: opts.remote, jobs: opts.jobs, onProgress: opts.onProgress });
    const upstream = repo.refs.get(`remotes/${fetched.remote}/${branch}`) ?? null;
    if (!upstream) throw new DvError(`remote '${fetched.remote}' has no branch '${branch}'`);
    const local = repo.head().commit;
    const base = { fetch: fetched, branch, old: local, checkout: null };
    if (local === upstream) return { ...base, new: local, status: 'up-to-date' };
    if (local && await isAncestor(repo, upstream, local)) return { ...base, new: local, status: 'ahead' };
    if (local && !(await isAncestor(repo, local, upstream))) {
      const { ahead, behind } = await aheadBehind(repo, local, upstream);
      throw new DvError(`cannot pull: branch '${branch}' and ${fetched.remote}/${branch} have diverged `
        + `(${ahead} local and ${behind} remote commits differ) and dv does not merge; keep yours with `
        + `'dv push --force', or take theirs with 'dv checkout ${fetched.remote}/${branch}'`);
    }
    // The workspace moves first, under checkout's guard against overwriting
    // uncommitted work; only then does the branch follow.
    const co = await checkout(repo, upstream, { onProgress: opts.onProgress });
    repo.db.transaction(() => {
      repo.refs.set(`heads/${branch}`, upstream);
      repo.refs.setHeadBranch(branch);
    })();
    return { ...base, new: upstream, status: 'fast-forward', checkout: { ...co, branch } };
  });
}

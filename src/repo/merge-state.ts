// The state of a merge stopped on conflicts (merge.ts), kept in the index until
// `dv commit` concludes it or `dv merge --abort` drops it; status and commit read it.
import { deleteMeta, getMeta, setMeta } from '../store/db.js';
import type { Repo } from './repo.js';

export interface MergeState {
  /** The commit being merged in, and how the user named it. */
  theirs: string;
  name: string;
  conflicts: string[];
  resolved: string[];
}

const STATE_KEY = 'merge_state';

export function readMergeState(repo: Repo): MergeState | null {
  const raw = getMeta(repo.db, STATE_KEY);
  return raw ? JSON.parse(raw) as MergeState : null;
}

export function writeMergeState(repo: Repo, s: MergeState): void {
  setMeta(repo.db, STATE_KEY, JSON.stringify(s));
}

export function clearMergeState(repo: Repo): void {
  deleteMeta(repo.db, STATE_KEY);
}

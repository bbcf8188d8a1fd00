// dv status --remote: ahead/behind of the current branch against its remote-tracking
// ref, as of the last fetch or push (like git, it does not contact the remote).
import type { Repo } from '../repo.js';
import { aheadBehind } from './ancestry.js';
import { resolveRemote } from './config.js';

export interface RemoteStatus {
  remote: string;
  branch: string | null;
  /** e.g. `origin/main`; null when the remote has no such branch (as far as we know). */
  tracking: string | null;
  local: string | null;
  upstream: string | null;
  ahead: number;
  behind: number;
}

export async function remoteStatus(repo: Repo, name?: string): Promise<RemoteStatus> {
  const remote = resolveRemote(repo, name).name;
  const { branch, commit } = repo.head();
  const upstream = branch ? repo.refs.get(`remotes/${remote}/${branch}`) ?? null : null;
  const { ahead, behind } = await aheadBehind(repo, commit, upstream);
  return { remote, branch, tracking: upstream ? `${remote}/${branch}` : null, local: commit, upstream, ahead, behind };
}

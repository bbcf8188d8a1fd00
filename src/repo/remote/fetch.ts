// dv fetch: bring the remote's packs and refs here. Refs are listed before packs:
// pushers upload packs before refs, so every pack a listed ref needs is already in
// the later pack listing. Remote-tracking refs move only after every downloaded
// pack is verified and the refs' whole history is present locally, so a failure
// leaves refs, HEAD and the workspace as they were (verified packs that did
// arrive stay, indexed: that is what makes a re-run resume).
import { DvError } from '../../store/errors.js';
import { indexedPacks } from '../../store/maintenance.js';
import { droppedPacks, forgetDropped } from '../gc.js';
import { adoptProtections } from '../protect.js';
import { markReachable } from '../reachable.js';
import type { Repo } from '../repo.js';
import { resolveRemote } from './config.js';
import type { OnProgress } from './progress.js';
import { Remote, type RemoteRef } from './remote.js';
import { downloadPacks } from './transfer.js';

export interface FetchOptions {
  remote?: string;
  jobs?: number;
  onProgress?: OnProgress;
}

export type FetchStatus = 'new' | 'updated' | 'up-to-date' | 'pruned' | 'kept-local';

export interface FetchedRef {
  /** Local name: `remotes/origin/main`, `tags/v1`. */
  ref: string;
  old: string | null;
  new: string | null;
  status: FetchStatus;
}

export interface FetchResult {
  remote: string;
  url: string;
  packsFetched: number;
  bytesFetched: number;
  refs: FetchedRef[];
}

export async function fetch(repo: Repo, opts: FetchOptions = {}): Promise<FetchResult> {
  const { name, config } = resolveRemote(repo, opts.remote);
  return repo.withLock('fetch', async () => {
    const remote = Remote.connect(name, config, { jobs: opts.jobs });
    try {
      return await fetchWith(repo, remote, opts.onProgress);
    } finally {
      remote.close();
    }
  });
}

/** Fetch over an open connection (clone reuses the one it probed with). Caller holds the lock. */
export async function fetchWith(repo: Repo, remote: Remote, onProgress?: OnProgress): Promise<FetchResult> {
  await remote.requireMeta(repo.config.chunker);
  const remoteRefs = await remote.listRefs();
  const remotePacks = await remote.listPacks();
  const have = new Set(indexedPacks(repo.blobs).map((p) => p.id));
  // Packs a local gc deleted as garbage stay away, unless a ref needs them after all.
  const dropped = droppedPacks(repo);
  const missing = [...remotePacks.values()].filter((p) => !have.has(p.id));
  const fetched = await downloadPacks(remote, repo.blobs, missing.filter((p) => !dropped.has(p.id)), onProgress);

  const changes = planRefs(repo, remote.name, remoteRefs);
  const moved = changes.filter((c) => c.status === 'new' || c.status === 'updated');
  if (!(await isComplete(repo, moved))) {
    const again = missing.filter((p) => dropped.has(p.id));
    fetched.push(...await downloadPacks(remote, repo.blobs, again, onProgress));
    forgetDropped(repo, again.map((p) => p.id));
    await checkComplete(repo, remote, moved);
  }
  const guarded = await remote.readProtected();
  repo.refs.batch(() => { // one refs.log sync for all the refs moved
    for (const c of changes) {
      if (c.status === 'pruned') repo.refs.delete(c.ref);
      else if (c.status === 'new' || c.status === 'updated') repo.refs.set(c.ref, c.new!);
    }
    adoptProtections(repo, guarded);
  });
  return {
    remote: remote.name, url: remote.url, packsFetched: fetched.length,
    bytesFetched: fetched.reduce((s, p) => s + p.size, 0), refs: changes,
  };
}

/** Branches become remotes/<remote>/<b>; tags are created locally unless a local tag of
 * that name points elsewhere (kept, reported); tracking refs of deleted branches go. */
function planRefs(repo: Repo, remoteName: string, remoteRefs: RemoteRef[]): FetchedRef[] {
  const out: FetchedRef[] = [];
  const seen = new Set<string>();
  for (const r of remoteRefs) {
    const tag = r.name.startsWith('tags/');
    const ref = tag ? r.name : `remotes/${remoteName}/${r.name.slice('heads/'.length)}`;
    seen.add(ref);
    const old = repo.refs.get(ref) ?? null;
    const status: FetchStatus = old === r.commit ? 'up-to-date' : old === null ? 'new' : tag ? 'kept-local' : 'updated';
    out.push({ ref, old, new: status === 'kept-local' ? old : r.commit, status });
  }
  for (const r of repo.refs.list(`remotes/${remoteName}/`)) {
    if (!seen.has(r.name)) out.push({ ref: r.name, old: r.target, new: null, status: 'pruned' });
  }
  return out.sort((a, b) => a.ref.localeCompare(b.ref));
}

async function isComplete(repo: Repo, changed: FetchedRef[]): Promise<boolean> {
  return changed.length === 0 || (await markReachable(repo, changed.map((c) => c.new!))).broken.size === 0;
}

/** Every object the new ref targets reach must now be here and readable. */
async function checkComplete(repo: Repo, remote: Remote, changed: FetchedRef[]): Promise<void> {
  if (changed.length === 0) return;
  const { broken } = await markReachable(repo, changed.map((c) => c.new!));
  if (broken.size === 0) return;
  const [id, from] = broken.entries().next().value as [string, string];
  throw new DvError(`remote '${remote.name}' (${remote.url}) lacks ${broken.size} object(s) its refs need `
    + `(e.g. ${id.slice(0, 12)}… referenced by ${from.replace(/[0-9a-f]{64}/, (m) => m.slice(0, 12) + '…')}); `
    + 'nothing was updated; the remote is damaged (run dv fsck in a clone that pushed it)');
}

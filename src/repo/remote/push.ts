// dv push: packs the remote lacks first, then refs, so another clone never sees a
// ref whose objects have not arrived. It sends every local pack the remote lacks
// (including any unreachable garbage not yet collected locally): the question "what
// does the remote lack" is then one LIST, and a re-run after an interruption skips
// whatever already arrived. Each pack is checked whole before anything is sent.
import { CorruptionError, DvError } from '../../store/errors.js';
import { packPath } from '../../store/packwriter.js';
import { checkPackFile } from '../../store/verify.js';
import { indexedPacks } from '../../store/maintenance.js';
import { pool } from '../../store/pool.js';
import type { Repo } from '../repo.js';
import { historyRoots } from '../reachable.js';
import { assertAllowed, localActor, publishProtections } from '../protect.js';
import { isAncestor } from './ancestry.js';
import { resolveRemote } from './config.js';
import type { OnProgress } from './progress.js';
import { Remote, type RemoteRef } from './remote.js';
import { checkNoGc, describeRef, rejectedNonFastForward, writeRemoteRef } from './refupdate.js';
import { uploadPacks } from './transfer.js';

export interface PushOptions {
  remote?: string;
  /** Branch or tag names; default: the current branch. */
  refs?: string[];
  /** Every local branch. */
  all?: boolean;
  /** Every local tag, in addition to the branches. */
  tags?: boolean;
  force?: boolean;
  jobs?: number;
  onProgress?: OnProgress;
  /** Told what the push waits for (another writer's ref lease) and when it takes one over. */
  onWait?: (message: string) => void;
}

export type PushStatus = 'created' | 'updated' | 'forced' | 'up-to-date';

export interface PushedRef {
  ref: string;
  old: string | null;
  new: string;
  status: PushStatus;
}

export interface PushResult {
  remote: string;
  url: string;
  refs: PushedRef[];
  packsUploaded: number;
  bytesUploaded: number;
  /** Local packs the remote already had. */
  packsSkipped: number;
  /** How refs were protected: compare-and-swap, or the best-effort lease. */
  refUpdates: 'conditional-write' | 'lease' | 'none';
  /** Data versions newly pinned on the remote: named by a dv.lock in git history. */
  pinned: string[];
}

function selectRefs(repo: Repo, opts: PushOptions, hasPins: boolean): { ref: string; commit: string }[] {
  const out = new Map<string, string>();
  for (const n of opts.refs ?? []) {
    const ref = repo.refs.get(`heads/${n}`) ? `heads/${n}` : repo.refs.get(`tags/${n}`) ? `tags/${n}` : null;
    if (!ref) throw new DvError(`no local branch or tag named '${n}'`);
    out.set(ref, repo.refs.get(ref)!);
  }
  if (opts.all) for (const r of repo.refs.list('heads/')) out.set(r.name, r.target);
  if (opts.tags) for (const r of repo.refs.list('tags/')) out.set(r.name, r.target);
  if (!opts.refs?.length && !opts.all) {
    const head = repo.head();
    if (head.branch === null) {
      if (hasPins) return []; // the versions git's dv.lock files name still go, as pins
      throw new DvError('HEAD is detached: name the branch to push');
    }
    if (!head.commit) throw new DvError(`branch '${head.branch}' has no commits yet: nothing to push`);
    out.set(`heads/${head.branch}`, head.commit);
  }
  if (out.size === 0) throw new DvError('nothing to push: no matching branches or tags');
  return [...out].map(([ref, commit]) => ({ ref, commit }));
}

export async function push(repo: Repo, opts: PushOptions = {}): Promise<PushResult> {
  const { name, config } = resolveRemote(repo, opts.remote);
  return repo.withLock('push', async () => {
    const pins = (await historyRoots(repo)).git;
    const wanted = selectRefs(repo, opts, pins.length > 0);
    const remote = Remote.connect(name, config, { jobs: opts.jobs });
    try {
      return await pushWith(repo, remote, wanted, pins, opts);
    } finally {
      remote.close();
    }
  });
}

async function classify(repo: Repo, remote: Remote, ref: string, local: string, theirs: RemoteRef | null,
  force: boolean): Promise<PushStatus> {
  if (!theirs) return 'created';
  if (theirs.commit === local) return 'up-to-date';
  if (ref.startsWith('heads/') && await isAncestor(repo, theirs.commit, local)) return 'updated';
  if (force) return 'forced';
  if (ref.startsWith('tags/')) {
    throw new DvError(`push to '${remote.name}' rejected: ${describeRef(ref)} already exists on the remote at another commit; use --force to move it`, 1, 'REJECTED');
  }
  const why = repo.objects.isCommit(theirs.commit)
    ? `(${theirs.commit.slice(0, 12)}) is not an ancestor of yours (${local.slice(0, 12)})`
    : 'has commits this repository does not have';
  throw rejectedNonFastForward(remote, ref, why);
}

/** A pack that fails its check (any byte off, so it no longer hashes to its name) is
 * never uploaded: every clone would get it and fail. Nothing is sent then. */
async function verifyBeforeUpload(repo: Repo, packs: { id: string; size: number }[]): Promise<void> {
  for (const p of packs) {
    const check = await checkPackFile(packPath(repo.blobs.packsDir, p.id), p.id);
    const problems = check.size === p.size ? check.problems : [`${check.size} bytes on disk, ${p.size} in the index`, ...check.problems];
    if (problems.length) {
      throw new CorruptionError(`local pack ${p.id} is damaged (${problems.join('; ')}); nothing was pushed; `
        + 'run dv fsck --repair (or dv fetch --repair to restore it from a remote that has it)');
    }
  }
}

async function pushWith(repo: Repo, remote: Remote, wanted: { ref: string; commit: string }[], pins: string[],
  opts: PushOptions): Promise<PushResult> {
  await remote.ensureMeta(repo.config.chunker);
  // Checked before sending anything, as git does; writeRemoteRef checks again at the end.
  const theirs = await pool(wanted, remote.jobs, (w) => remote.readRef(w.ref));
  const plans: (PushedRef & { theirs: RemoteRef | null })[] = [];
  for (const [i, w] of wanted.entries()) {
    const status = await classify(repo, remote, w.ref, w.commit, theirs[i], !!opts.force);
    plans.push({ ref: w.ref, old: theirs[i]?.commit ?? null, new: w.commit, status, theirs: theirs[i] });
  }
  const result: PushResult = { remote: remote.name, url: remote.url, refs: plans.map(({ theirs: _, ...p }) => p),
    packsUploaded: 0, bytesUploaded: 0, packsSkipped: 0, refUpdates: 'none', pinned: [] };
  const moving = plans.filter((p) => p.status !== 'up-to-date');
  // Branches protected on the remote move only by those it allows: refused before anything is sent.
  const who = localActor();
  const guarded = await remote.readProtected();
  for (const p of moving) if (p.ref.startsWith('heads/')) assertAllowed(guarded.find((g) => g.branch === p.ref.slice(6)), who, `push to '${remote.name}' rejected: `);
  const published = publishProtections(repo, guarded, plans.filter((p) => p.ref.startsWith('heads/')).map((p) => p.ref.slice(6)), who);
  const pinned = pins.length ? await remote.listPins() : new Set<string>();
  const newPins = pins.filter((id) => !pinned.has(id));
  if (moving.length || newPins.length) {
    await checkNoGc(remote); // fail before uploading, not after
    const remotePacks = await remote.listPacks();
    // A size mismatch is an upload cut short on a server that stores partial bodies.
    const local = indexedPacks(repo.blobs);
    const missing = local.filter((p) => remotePacks.get(p.id)?.size !== p.size);
    await verifyBeforeUpload(repo, missing);
    await uploadPacks(remote, repo.blobs, missing, opts.onProgress);
    result.packsUploaded = missing.length;
    result.bytesUploaded = missing.reduce((s, p) => s + p.size, 0);
    result.packsSkipped = local.length - missing.length;
    result.refUpdates = (await remote.conditionalWrites()) ? 'conditional-write' : 'lease';
    for (const p of moving) await writeRemoteRef(remote, p.ref, p.theirs, p.new, { force: p.status === 'forced', onWait: opts.onWait });
    // After the packs, like refs: a pin never names data the remote lacks.
    if (newPins.length) await checkNoGc(remote);
    await pool(newPins, remote.jobs, (id) => remote.writePin(id));
    result.pinned = newPins;
  }
  if (published) await remote.writeProtected(published); // after the refs it guards
  repo.refs.batch(() => { // one refs.log sync for all the refs moved
    for (const p of plans) if (p.ref.startsWith('heads/')) repo.refs.set(`remotes/${remote.name}/${p.ref.slice(6)}`, p.new);
  });
  return result;
}

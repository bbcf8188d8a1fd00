// dv merge: bring another branch's versions into the checked-out branch, the way a
// tested staging run is promoted to main. A fast-forward when HEAD is behind; else a
// file-level three-way merge against the merge base, recorded as a commit with two
// parents. A path both sides changed differently is a conflict: the merge stops and
// writes nothing, unless asked to resolve (`resolve`), in which case the workspace gets
// the merge with our side at each conflict, and the merge state (in the index) waits for
// `dv checkout --ours|--theirs PATH` and `dv commit` (or `dv merge --abort`).
import fs from 'node:fs';
import path from 'node:path';
import { DvError } from '../store/errors.js';
import { checkoutTo } from './checkout.js';
import { mergeBase } from './graph.js';
import { normalizeTracked } from './paths.js';
import type { Repo } from './repo.js';
import { assertMayMove, localActor } from './protect.js';
import { status } from './status.js';
import { addedEmptyDirs, markerEntry, updateTree, type FlatTree } from './trees.js';
import type { FileEntry } from './types.js';
import { clearMergeState, readMergeState, writeMergeState, type MergeState } from './merge-state.js';

export interface MergeResult {
  status: 'up-to-date' | 'fast-forward' | 'merged' | 'conflicts';
  /** The new HEAD (fast-forward or merge commit); null when nothing moved. */
  commit: string | null;
  base: string | null;
  /** Paths changed differently on both sides. */
  conflicts: string[];
  written: string[];
  removed: string[];
}

const same = (a: FileEntry | undefined, b: FileEntry | undefined): boolean =>
  a === b || (!!a && !!b && a.hash === b.hash && a.mode === b.mode);

/**
 * Empty directories (directory markers written through dv serve) merge three-way too,
 * as a yes/no per directory: where only theirs changed it (created or removed one), take
 * theirs. A marker edit keeps a directory (or drops it if it is empty), see updateTree.
 */
async function emptyDirEdits(repo: Repo, base: string | null, ours: string, theirs: string): Promise<Map<string, boolean>> {
  const [b, o, t] = await Promise.all([base, ours, theirs].map(async (tree) => new Set(tree ? await addedEmptyDirs(repo.objects, null, tree) : [])));
  const out = new Map<string, boolean>();
  for (const d of new Set([...b!, ...o!, ...t!])) {
    const [inB, inO, inT] = [b!.has(d), o!.has(d), t!.has(d)];
    if (inO === inB && inT !== inB) out.set(d, inT);
  }
  return out;
}

/** The three-way result per path: what it becomes, or a conflict. */
function threeWay(base: FlatTree, ours: FlatTree, theirs: FlatTree): { merged: FlatTree; conflicts: string[] } {
  const merged: FlatTree = new Map(ours);
  const conflicts: string[] = [];
  for (const p of new Set([...base.keys(), ...ours.keys(), ...theirs.keys()])) {
    const b = base.get(p);
    const o = ours.get(p);
    const t = theirs.get(p);
    if (same(o, t) || same(t, b)) continue; // ours already holds the answer
    if (same(o, b)) { if (t) merged.set(p, t); else merged.delete(p); continue; }
    conflicts.push(p);
  }
  return { merged, conflicts: conflicts.sort() };
}

export async function merge(repo: Repo, ref: string, opts: { message?: string; resolve?: boolean } = {}): Promise<MergeResult> {
  return repo.withLock('merge', async () => {
    if (readMergeState(repo)) throw new DvError("a merge is in progress: resolve it and 'dv commit', or 'dv merge --abort'");
    const head = repo.head();
    if (head.branch !== null) assertMayMove(repo, head.branch, localActor()); // protected branches
    const theirs = await repo.resolve(ref);
    const ours = head.commit;
    const s = await status(repo);
    if (s.added.length + s.modified.length + s.deleted.length) {
      throw new DvError('the workspace has uncommitted changes; commit them (or dv checkout -f HEAD) before merging');
    }
    const into = head.branch ?? 'HEAD';
    const base = ours ? await mergeBase(repo, ours, theirs) : null;
    const none = { written: [] as string[], removed: [] as string[] };
    if (base === theirs) return { status: 'up-to-date', commit: null, base, conflicts: [], ...none };
    if (!ours || base === ours) {
      const r = await checkoutTo(repo, { commit: theirs, branch: head.branch }, { advance: `merge ${ref}: fast-forward` });
      return { status: 'fast-forward', commit: theirs, base, conflicts: [], written: r.written, removed: r.removed };
    }
    const [b, o, t] = await Promise.all([repo.flatten(base), repo.flatten(ours), repo.flatten(theirs)]);
    const { merged, conflicts } = threeWay(b, o, t);
    if (conflicts.length && !opts.resolve) return { status: 'conflicts', commit: null, base, conflicts, ...none };
    const edits = new Map<string, FileEntry | null>();
    for (const p of new Set([...o.keys(), ...merged.keys()])) if (!same(o.get(p), merged.get(p))) edits.set(p, merged.get(p) ?? null);
    const [bc, oc, tc] = [await repo.readCommit(base ?? ours), await repo.readCommit(ours), await repo.readCommit(theirs)];
    for (const [dir, keep] of await emptyDirEdits(repo, base ? bc.tree : null, oc.tree, tc.tree)) edits.set(`${dir}/`, keep ? markerEntry() : null);
    const tree = await updateTree(repo.objects, oc.tree, edits);
    const message = opts.message ?? `Merge ${ref} into ${into}`;
    const commit = await repo.writeCommit({ tree, parents: [ours, theirs], paths: normalizeTracked([...oc.paths, ...tc.paths]), message });
    repo.blobs.flush();
    if (conflicts.length) {
      // The commit object only carries the tree to write; `dv commit` makes the real one.
      const r = await checkoutTo(repo, { commit, branch: head.branch }, { keepHead: true });
      writeMergeState(repo, { theirs, name: ref, conflicts, resolved: [] });
      return { status: 'conflicts', commit: null, base, conflicts, written: r.written, removed: r.removed };
    }
    const r = await checkoutTo(repo, { commit, branch: head.branch }, { advance: `merge ${ref}: ${message}` });
    return { status: 'merged', commit, base, conflicts: [], written: r.written, removed: r.removed };
  });
}

/** dv merge --abort: the workspace back to HEAD, the merge state gone. */
export async function abortMerge(repo: Repo): Promise<void> {
  await repo.withLock('merge', async () => {
    if (!readMergeState(repo)) throw new DvError('no merge in progress');
    const head = repo.head();
    if (head.commit) await checkoutTo(repo, { commit: head.commit, branch: head.branch }, { force: true, keepHead: true });
    clearMergeState(repo);
  });
}

/** dv checkout --ours|--theirs PATH...: take one side's version of conflicting paths. */
export async function resolveConflicts(repo: Repo, side: 'ours' | 'theirs', paths: string[]): Promise<MergeState> {
  return repo.withLock('checkout', async () => {
    const state = readMergeState(repo);
    if (!state) throw new DvError(`--${side} resolves a conflict of a merge in progress; there is none`);
    const unknown = paths.filter((p) => !state.conflicts.includes(p));
    if (unknown.length) throw new DvError(`'${unknown[0]}' is not a conflicting path of this merge (${state.conflicts.join(', ')})`);
    const from = side === 'ours' ? repo.headCommit()! : state.theirs;
    const files = await repo.flatten(from);
    const present = paths.filter((p) => files.has(p));
    if (present.length) await checkoutTo(repo, { commit: from, branch: null }, { paths: present, force: true });
    for (const p of paths.filter((q) => !files.has(q))) fs.rmSync(path.join(repo.root, p), { force: true });
    state.resolved = [...new Set([...state.resolved, ...paths])].sort();
    writeMergeState(repo, state);
    return state;
  });
}

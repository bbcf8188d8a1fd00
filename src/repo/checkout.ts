// dv checkout: make the tracked paths match a version. Only files whose content
// differs are written; uncommitted work is never overwritten without --force.
import fs from 'node:fs';
import path from 'node:path';
import { DvError } from '../store/errors.js';
import { pool } from '../store/pool.js';
import { onlyReachableFrom } from './graph.js';
import { restoreFile } from './fileio.js';
import type { Repo } from './repo.js';
import type { Progress } from './snapshot.js';
import { isUnder, normalizeTracked } from './paths.js';
import { addedEmptyDirs, diffTrees, sameContent, type FlatTree } from './trees.js';
import { chunksAfter, cleanChunks, diffAgainstMirror, isClean, type MirrorDiff } from './mirror-diff.js';
import { scanDetailed } from './scan.js';
import { hashFile, linkedParents, scanWorkspace, StatCache, type WsFile } from './workspace.js';
import { isLink, type FileEntry } from './types.js';
import { deleteMeta, getMeta, setMeta } from '../store/db.js';

const RESTORE_CONCURRENCY = 8;

export interface CheckoutOptions {
  paths?: string[];
  force?: boolean;
  /** Move HEAD's branch to the target (a merge's fast-forward or merge commit), with this reflog message. */
  advance?: string;
  /** Write the workspace only; HEAD stays (a merge stopped on conflicts, to be resolved). */
  keepHead?: boolean;
  onProgress?: (p: Progress) => void;
}

export interface CheckoutResult {
  commit: string;
  branch: string | null;
  written: string[];
  removed: string[];
  /** Set when this checkout detached HEAD (a commit id, tag, HEAD~N, git revision). */
  detached: boolean;
  /** Commits HEAD leaves behind that no branch or tag reaches (only the reflog keeps them), newest first. */
  leftBehind: string[];
}

/** A dv ref, or a git revision of the enclosing repository (through its dv.lock). A
 * branch name, or HEAD while on a branch, keeps HEAD on that branch, as in git. */
export async function resolveCheckoutTarget(repo: Repo, ref: string): Promise<{ commit: string; branch: string | null }> {
  const commit = await repo.resolve(ref);
  const name = ref.replace(/^heads\//, '');
  if (repo.refs.get(`heads/${name}`) && !ref.startsWith('git:')) return { commit, branch: name };
  const head = repo.head();
  if ((ref === 'HEAD' || ref === '@') && head.branch) return { commit, branch: head.branch };
  return { commit, branch: null };
}

/** Commits reachable from `from` that no branch, tag or remote-tracking ref reaches. */
async function leftBehind(repo: Repo, from: string | null, to: string): Promise<string[]> {
  if (!from || from === to) return [];
  const refs = repo.refs.list().map((r) => r.target);
  if (refs.includes(from)) return [];
  return onlyReachableFrom(repo, from, [...refs, to]);
}

function restrict(files: FlatTree, scope: string[]): FlatTree {
  return new Map([...files].filter(([p]) => scope.some((s) => isUnder(p, s))));
}

export async function checkout(repo: Repo, ref: string, opts: CheckoutOptions = {}): Promise<CheckoutResult> {
  return repo.withLock('checkout', async () => {
    const target = await resolveCheckoutTarget(repo, ref);
    return checkoutTo(repo, target, opts);
  });
}

/**
 * Finishes a checkout that was killed half-way (its journal names the target), so the
 * workspace is one version again. Returns what it did, or null when nothing was pending.
 */
export async function finishInterruptedCheckout(repo: Repo): Promise<CheckoutResult | null> {
  if (!readJournal(repo)) return null;
  return repo.withLock('checkout', async () => {
    const j = readJournal(repo);
    return j ? checkoutTo(repo, { commit: j.commit, branch: j.branch }, { advance: j.advance }) : null;
  });
}

interface Plan {
  /** The target's entry of each path to write. */
  entries: Map<string, FileEntry>;
  toWrite: string[];
  toRemove: string[];
  /** Symlinks standing where a leading directory of a written path must be. */
  links: string[];
  /** Files whose content is right but whose mode is not (the executable bit). */
  chmods: [path: string, mode: number][];
  /** Paths of the target's files: directories holding one are never removed. */
  keep: Iterable<string>;
  /** Empty directories of the target to create (S3 directory markers; see trees.ts). */
  dirs?: string[];
  /** Scan chunk marks that hold once the plan is applied (see mirror-diff.ts). */
  chunks?: Map<string, number>;
  /** Empty directories of HEAD the target does not have: removed (if still empty). */
  goneDirs?: string[];
}

const inScope = (dirs: string[], scope: string[]): string[] => dirs.filter((d) => scope.some((t) => isUnder(d, t)));

export async function checkoutTo(repo: Repo, target: { commit: string; branch: string | null }, opts: CheckoutOptions): Promise<CheckoutResult> {
  const targetCommit = await repo.readCommit(target.commit);
  const headId = repo.headCommit();
  const headPaths = headId ? (await repo.readCommit(headId)).paths : [];
  const restoring = !!opts.paths?.length;
  const movesHead = !restoring && !opts.keepHead;
  const scope = restoring ? normalizeTracked(opts.paths!) : normalizeTracked([...headPaths, ...targetCommit.paths]);
  const cache = new StatCache(repo.db);
  if (movesHead && headId && !readJournal(repo)) {
    const headTree = (await repo.readCommit(headId)).tree;
    const plan = cache.mirrors(headTree) ? await planFromTrees(repo, cache, scope, headTree, targetCommit.tree, !!opts.force) : null;
    if (plan) {
      plan.dirs = inScope(await addedEmptyDirs(repo.objects, headTree, targetCommit.tree), scope);
      plan.goneDirs = inScope(await addedEmptyDirs(repo.objects, targetCommit.tree, headTree), scope);
    }
    if (plan) return finishCheckout(repo, target, opts, plan, cache, () => cache.setMirror(targetCommit.tree));
  }
  const want = restrict(await repo.flatten(target.commit), scope);
  if (restoring) {
    const missing = opts.paths!.filter((p) => ![...want.keys()].some((w) => isUnder(w, p)));
    if (missing.length) throw new DvError(`path '${missing[0]}' did not match any file in ${target.commit.slice(0, 12)}; nothing changed`);
  }
  // Files of HEAD, and of the target of a checkout killed half-way, are known versions:
  // replacing them loses nothing.
  const known = [restrict(await repo.flatten(headId), scope)];
  const journal = readJournal(repo);
  if (journal && journal.commit !== target.commit) known.push(restrict(await repo.flatten(journal.commit), scope));
  const plan = await planCheckout(repo, want, known, cache, scope, !!opts.force);
  // Empty directories (S3 directory markers) of the target; a restore of PATHs writes only files.
  if (!restoring) {
    plan.dirs = inScope(await addedEmptyDirs(repo.objects, null, targetCommit.tree), scope);
    if (headId) plan.goneDirs = inScope(await addedEmptyDirs(repo.objects, targetCommit.tree, (await repo.readCommit(headId)).tree), scope);
  }
  return finishCheckout(repo, target, opts, plan, cache, () => cache.mirrorIfComplete(targetCommit.tree, want));
}

/**
 * Checkout between two versions of a clean workspace whose stat cache mirrors HEAD: the
 * files to write and remove come from diffing the two trees by id (equal subtrees are
 * skipped), so a checkout changing one file costs one stat per file plus that file.
 * Null when the workspace differs from HEAD in any file: planCheckout decides then.
 */
async function planFromTrees(repo: Repo, cache: StatCache, scope: string[], headTree: string, targetTree: string, force: boolean): Promise<Plan | null> {
  const scan = await scanDetailed(repo.root, scope, cache.size);
  const d = cache.unchangedSince(headTree, scan) ? cleanChunks(scan) : await diffAgainstMirror(repo.root, cache, scan);
  if ('added' in d && !isClean(d as MirrorDiff)) return null;
  const entries = new Map<string, FileEntry>();
  const toRemove: string[] = [];
  for (const c of await diffTrees(repo.objects, headTree, targetTree)) {
    if (c.new) entries.set(c.path, c.new);
    else toRemove.push(c.path);
  }
  const toWrite = [...entries.keys()];
  const links = linkedParents(repo.root, [...toWrite, ...toRemove]);
  refuseLinks(links, force);
  // Chunks of the scan that no write or removal touches still vouch for their files.
  const touched = new Set([...toWrite, ...toRemove].map((p) => d.chunkOf(p)?.id));
  const chunks = new Map([...chunksAfter(d, () => false)].filter(([id]) => !touched.has(id)));
  return { entries, toWrite, toRemove, links: [...links.keys()], chmods: [], keep: toWrite, chunks };
}

async function finishCheckout(repo: Repo, target: { commit: string; branch: string | null }, opts: CheckoutOptions, plan: Plan,
  cache: StatCache, mirror: () => void): Promise<CheckoutResult> {
  const headId = repo.headCommit();
  const movesHead = !opts.paths?.length && !opts.keepHead;
  const left = movesHead && !opts.advance ? await leftBehind(repo, headId, target.commit) : [];
  if (movesHead) writeJournal(repo, { ...target, from: headId, advance: opts.advance });
  const recorded = await applyCheckout(repo, plan, opts.onProgress);
  repo.db.transaction(() => {
    cache.forget(plan.toRemove);
    if (movesHead) {
      cache.recordAll(recorded);
      mirror();
      if (plan.chunks) cache.setChunks(plan.chunks);
      const why = `checkout: moving to ${target.branch ?? target.commit.slice(0, 12)}`;
      if (opts.advance) repo.refs.advanceHead(target.commit, opts.advance);
      else if (target.branch) repo.refs.setHeadBranch(target.branch, why);
      else repo.refs.setHeadDetached(target.commit, why);
      clearJournal(repo);
    } else cache.record(recorded);
    cache.save();
  })();
  return {
    commit: target.commit, branch: movesHead && !opts.advance ? target.branch : repo.head().branch, written: plan.toWrite,
    removed: plan.toRemove, detached: movesHead && !opts.advance && target.branch === null,
    leftBehind: left,
  };
}

async function planCheckout(repo: Repo, want: FlatTree, known: FlatTree[], cache: StatCache, scope: string[], force: boolean): Promise<Plan> {
  const ws = new Map<string, WsFile>((await scanWorkspace(repo.root, scope, cache.size)).map((f) => [f.path, f]));
  const current = async (f: WsFile) => cache.hashOf(f) ?? (await hashFile(path.join(repo.root, f.path), f.mode));
  const isKnown = (p: string) => known.some((k) => k.has(p));
  const toWrite: string[] = [];
  const toRemove: string[] = [];
  const conflicts: string[] = [];
  for (const p of new Set([...want.keys(), ...ws.keys()])) {
    const w = want.get(p);
    const f = ws.get(p);
    if (!f) { if (w) toWrite.push(p); continue; }
    if (!w && !isKnown(p)) continue; // untracked new file: left alone, as git does
    const hash = await current(f);
    const mine = { ...f, name: p, type: 'file' as const, hash, chunks: [] };
    if (w && sameContent(mine, w)) continue;
    // Safe to replace: the content is committed (a known version, the target's, or a stored one).
    const safe = known.some((k) => k.get(p)?.hash === hash) || (w && w.hash === hash) || cache.hashOf(f) !== null;
    if (!safe && !force) conflicts.push(p);
    if (w) toWrite.push(p);
    else toRemove.push(p);
  }
  // Untracked files are left alone, unless they stand where the target puts a file
  // (inside a directory that becomes a file) or a directory (a file that becomes one):
  // writing the target would destroy them, so they are conflicts too.
  const untracked = (p: string) => ws.has(p) && !want.has(p) && !isKnown(p);
  for (const p of ws.keys()) {
    if (!untracked(p)) continue;
    for (let d = path.posix.dirname(p); d !== '.'; d = path.posix.dirname(d)) {
      if (want.has(d)) { if (!force) conflicts.push(p); break; }
    }
  }
  for (const p of want.keys()) {
    for (let d = path.posix.dirname(p); d !== '.'; d = path.posix.dirname(d)) {
      if (untracked(d) && !toRemove.includes(d)) { if (!force) conflicts.push(d); toRemove.push(d); break; }
    }
  }
  if (conflicts.length) {
    const shown = conflicts.sort().slice(0, 5).join(', ') + (conflicts.length > 5 ? `, ... (${conflicts.length} files)` : '');
    throw new DvError(`checkout would overwrite uncommitted changes in ${shown}; commit them or use --force`);
  }
  const links = linkedParents(repo.root, [...toWrite, ...toRemove]);
  refuseLinks(links, force);
  // Mode-only changes (the executable bit) are fixed in place.
  const chmods: [string, number][] = [];
  const written = new Set(toWrite);
  for (const [p, w] of want) {
    const f = ws.get(p);
    if (f && !written.has(p) && f.mode !== w.mode && !isLink(w.mode)) chmods.push([p, w.mode]);
  }
  return { entries: new Map(toWrite.map((p) => [p, want.get(p)!])), toWrite, toRemove, links: [...links.keys()], chmods, keep: want.keys() };
}

function refuseLinks(links: Map<string, string>, force: boolean): void {
  if (!links.size || force) return;
  const [dir, to] = links.entries().next().value as [string, string];
  throw new DvError(`'${dir}' is a symbolic link (to ${to}): dv never writes through a link; `
    + 'move the data back, or use --force to replace the link itself with the version\'s files');
}

async function applyCheckout(repo: Repo, plan: Plan, onProgress?: (p: Progress) => void): Promise<{ file: WsFile; hash: string }[]> {
  const { entries, toWrite, toRemove } = plan;
  const progress: Progress = { phase: 'checkout', files: 0, totalFiles: toWrite.length, bytes: 0,
    totalBytes: toWrite.reduce((s, p) => s + entries.get(p)!.size, 0) };
  const recorded: { file: WsFile; hash: string }[] = [];
  for (const l of plan.links) fs.unlinkSync(path.join(repo.root, l)); // --force: the link itself, not what it points to
  for (const p of toRemove) fs.rmSync(path.join(repo.root, p), { force: true });
  removeEmptyDirs(repo.root, toRemove, plan.keep);
  // Several restores in flight: each one's fsync overlaps the next one's writes.
  await pool([...toWrite].sort(), RESTORE_CONCURRENCY, async (p) => {
    const e = entries.get(p)!;
    const abs = path.join(repo.root, p);
    const existing = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (existing?.isDirectory()) fs.rmSync(abs, { recursive: true });
    await restoreFile(repo.blobs, e, abs, e.mode, p);
    const st = fs.lstatSync(abs);
    recorded.push({ file: { path: p, size: st.size, mtime: st.mtimeMs, ino: st.ino, mode: e.mode }, hash: e.hash });
    progress.files++;
    progress.bytes += e.size;
    onProgress?.(progress);
  });
  for (const [p, mode] of plan.chmods) fs.chmodSync(path.join(repo.root, p), mode);
  // Empty directories the target lacks go, with parents left empty, up to one holding
  // something (the target's empty directories are made again just below).
  for (const d of [...(plan.goneDirs ?? [])].sort((a, b) => b.length - a.length)) {
    for (let x = d; x !== '.'; x = path.posix.dirname(x)) {
      try { fs.rmdirSync(path.join(repo.root, x)); } catch { break; }
    }
  }
  for (const d of plan.dirs ?? []) {
    if (!fs.lstatSync(path.join(repo.root, d), { throwIfNoEntry: false })) fs.mkdirSync(path.join(repo.root, d), { recursive: true });
  }
  return recorded;
}

interface Journal {
  commit: string;
  branch: string | null;
  from: string | null;
  advance?: string;
}

// A checkout's target, recorded before the first file is written and cleared with the
// HEAD move: a checkout killed in between is finished by the next command.
const JOURNAL_KEY = 'checkout_journal';

function readJournal(repo: Repo): Journal | null {
  const raw = getMeta(repo.db, JOURNAL_KEY);
  return raw ? JSON.parse(raw) as Journal : null;
}

function writeJournal(repo: Repo, j: Journal): void {
  setMeta(repo.db, JOURNAL_KEY, JSON.stringify(j));
}

function clearJournal(repo: Repo): void {
  deleteMeta(repo.db, JOURNAL_KEY);
}

/** Directories emptied by removals go too, unless the target still has files there. */
function removeEmptyDirs(root: string, removed: string[], keepFiles: Iterable<string>): void {
  const dirs = new Set<string>();
  for (const p of removed) for (let d = path.posix.dirname(p); d !== '.'; d = path.posix.dirname(d)) dirs.add(d);
  const keep = new Set<string>();
  for (const p of keepFiles) for (let d = path.posix.dirname(p); d !== '.'; d = path.posix.dirname(d)) keep.add(d);
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    if (keep.has(d)) continue;
    try { fs.rmdirSync(path.join(root, d)); } catch { /* not empty: holds untracked files */ }
  }
}

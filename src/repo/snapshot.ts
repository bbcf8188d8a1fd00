// dv add / dv commit: record the tracked paths of the workspace as a new commit.
// Unchanged files come from the stat cache, so only new or edited files are read.
import fs from 'node:fs';
import path from 'node:path';
import { DvError } from '../store/errors.js';
import { afterDvCommit } from './git.js';
import { clearMergeState, readMergeState, type MergeState } from './merge-state.js';
import type { Repo } from './repo.js';
import { assertMayMove, localActor } from './protect.js';
import { addedEmptyDirs, buildTree, diffFlat, lookup, markerEntry, sameContent, updateTree, type Change, type FlatTree } from './trees.js';
import type { FileEntry } from './types.js';
import { chunksAfter, cleanChunks, diffAgainstMirror } from './mirror-diff.js';
import { storeStreamed } from './first-add.js';
import { addNewPaths, disjoint, storeFiles } from './add-paths.js';
import { scanDetailed, type ScanResult } from './scan.js';
import { linkedParents, StatCache, toEntry, type WsFile } from './workspace.js';
import { isUnder, normalizeTracked } from './paths.js';

export interface Progress {
  phase: string;
  files: number;
  totalFiles: number;
  bytes: number;
  totalBytes: number;
}

export interface SnapshotOptions {
  message?: string;
  onProgress?: (p: Progress) => void;
}

export interface SnapshotResult {
  /** The new commit, or null when nothing changed. */
  commit: string | null;
  changes: Change[];
  files: number;
  bytes: number;
}

/** Reads the workspace files under `scope` into a flat tree, storing new content.
 * A file whose cached hash equals HEAD's is taken from HEAD without being read. */
export async function readWorkspace(repo: Repo, cache: StatCache, ws: WsFile[], head: FlatTree, onProgress?: (p: Progress) => void):
  Promise<{ files: FlatTree; fresh: { file: WsFile; hash: string }[] }> {
  const files: FlatTree = new Map();
  const fresh: { file: WsFile; hash: string }[] = [];
  const todo: WsFile[] = [];
  for (const f of ws) {
    const known = head.get(f.path);
    if (known && cache.hashOf(f) === known.hash) files.set(f.path, known.mode === f.mode ? known : { ...known, mode: f.mode });
    else todo.push(f);
  }
  const progress: Progress = { phase: 'add', files: 0, totalFiles: todo.length, bytes: 0, totalBytes: todo.reduce((s, f) => s + f.size, 0) };
  const ingest = repo.ingestor({ onBytes: (n) => { progress.bytes += n; } });
  // Path order keeps a directory's files together in packs, and packs reproducible.
  todo.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const f of todo) {
    const content = await ingest.storeFile(path.join(repo.root, f.path), f.mode, f.size);
    files.set(f.path, toEntry(path.posix.basename(f.path), f.mode, content));
    fresh.push({ file: f, hash: content.hash });
    progress.files++;
    onProgress?.(progress);
  }
  return { files, fresh };
}

async function snapshot(repo: Repo, tracked: string[], scope: string[], opts: SnapshotOptions, merging?: MergeState): Promise<SnapshotResult> {
  const onBranch = repo.head().branch;
  if (onBranch !== null) assertMayMove(repo, onBranch, localActor()); // protected branches
  const parent = repo.headCommit();
  const parentCommit = parent ? await repo.readCommit(parent) : null;
  // Concluding a merge always makes its two-parent commit, even with no file changed.
  const samePaths = !merging && parentCommit !== null && parentCommit.paths.join('\0') === tracked.join('\0');
  const cache = new StatCache(repo.db);
  const scan = await scanDetailed(repo.root, scope, cache.size);
  const whole = scope.join('\0') === tracked.join('\0');
  // Fast path: nothing changed since the last snapshot, known from one stat per file.
  if (samePaths && whole && cache.unchangedSince(parentCommit.tree, scan)) {
    return { commit: null, changes: [], files: scan.count, bytes: scan.bytes() };
  }
  if (samePaths && whole && cache.mirrors(parentCommit.tree)) {
    return snapshotChanges(repo, parent!, parentCommit.tree, tracked, cache, scan, opts);
  }
  // New paths beside the tracked ones: only they are scanned and stored (add-paths.ts).
  if (!merging && parentCommit && cache.mirrors(parentCommit.tree) && disjoint(scope, parentCommit.paths)) {
    return addNewPaths(repo, parent!, parentCommit.tree, tracked, scan, cache, opts);
  }
  if (!parent && !merging) {
    const first = await firstSnapshot(repo, tracked, cache, scan, opts);
    if (first) return first;
  }
  const ws = scan.files();
  const head = await repo.flatten(parent);
  const { files: scanned, fresh } = await readWorkspace(repo, cache, ws, head, opts.onProgress);
  // Files outside the scope keep their committed version.
  const files: FlatTree = new Map([...head].filter(([p]) => !scope.some((s) => isUnder(p, s))));
  for (const [p, e] of scanned) files.set(p, e);
  const changes = diffFlat(head, files);
  const bytes = [...files.values()].reduce((s, e) => s + e.size, 0);
  const unchanged = changes.length === 0 && samePaths;
  const sorted = [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const message = opts.message ?? defaultMessage(changes);
  const tree = unchanged ? null : await keepEmptyDirs(repo, parentCommit?.tree ?? null, scope, await buildTree(repo.objects, sorted));
  const parents = parent ? [parent, ...(merging ? [merging.theirs] : [])] : [];
  const id = tree && await repo.writeCommit({ tree, parents, paths: tracked, message });
  repo.blobs.flush();
  repo.db.transaction(() => {
    cache.record(fresh);
    cache.retainOnly((p, hash) => files.get(p)?.hash === hash);
    cache.mirrorIfComplete(tree ?? parentCommit!.tree, files);
    if (whole) cache.rememberScan(scan);
    cache.save();
    if (id) repo.refs.advanceHead(id, `${merging ? 'commit (merge)' : 'commit'}: ${message.split('\n')[0]}`);
    if (id && merging) clearMergeState(repo);
  })();
  if (id) await afterDvCommit(repo, id, tracked);
  return { commit: id, changes, files: files.size, bytes };
}

/**
 * Empty directories (S3 directory markers) of the parent survive a snapshot built from the
 * file list: those outside the scope always, those inside while they are still empty
 * directories on disk.
 */
async function keepEmptyDirs(repo: Repo, parentTree: string | null, scope: string[], tree: string): Promise<string> {
  if (!parentTree) return tree;
  const keep = (await addedEmptyDirs(repo.objects, null, parentTree)).filter((d) =>
    !scope.some((s) => isUnder(d, s)) || isEmptyDir(path.join(repo.root, d)));
  return keep.length ? updateTree(repo.objects, tree, new Map(keep.map((d) => [`${d}/`, markerEntry()]))) : tree;
}

function isEmptyDir(abs: string): boolean {
  try {
    return fs.lstatSync(abs).isDirectory() && fs.readdirSync(abs).length === 0;
  } catch {
    return false;
  }
}

/**
 * A snapshot when the stat cache mirrors the parent's tree: only the changed files are
 * read (mirror-diff.ts) and only the directories on their paths are rewritten
 * (updateTree), so one changed file among a million costs one stat per file plus the
 * change. The rows then mirror the new tree.
 */
async function snapshotChanges(repo: Repo, parent: string, parentTree: string, tracked: string[], cache: StatCache,
  scan: ScanResult, opts: SnapshotOptions): Promise<SnapshotResult> {
  const d = await diffAgainstMirror(repo.root, cache, scan);
  const todo = [...d.added, ...d.modified].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const changes: Change[] = [];
  const { edits, rows: stored } = await storeFiles(repo, todo, opts, async (f, entry) => {
    const old = await lookup(repo.objects, parentTree, f.path);
    if (old?.type !== 'file') changes.push({ path: f.path, status: 'added', new: entry });
    else if (!sameContent(old, entry)) changes.push({ path: f.path, status: 'modified', old, new: entry });
  });
  const rows = [...d.refreshed, ...stored];
  for (const p of d.deleted) {
    edits.set(p, null);
    const old = await lookup(repo.objects, parentTree, p);
    changes.push({ path: p, status: 'deleted', ...(old?.type === 'file' ? { old } : {}) });
  }
  changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const message = opts.message ?? defaultMessage(changes);
  const tree = changes.length ? await updateTree(repo.objects, parentTree, edits) : null;
  const id = tree && await repo.writeCommit({ tree, parents: [parent], paths: tracked, message });
  repo.blobs.flush();
  repo.db.transaction(() => {
    const smudged = id ? cache.recordAll(rows) : cache.record(rows);
    cache.forget(d.deleted);
    cache.setMirror(tree ?? parentTree);
    if (smudged === 0) cache.rememberScan(scan);
    const recorded = new Set(rows.map((r) => r.file));
    cache.setChunks(chunksAfter(d, (f) => recorded.has(f)));
    cache.save();
    if (id) repo.refs.advanceHead(id, `commit: ${message.split('\n')[0]}`);
  })();
  if (id) await afterDvCommit(repo, id, tracked);
  return { commit: id, changes, files: scan.count, bytes: scan.bytes() };
}

/** The first commit, streamed (first-add.ts): the rows become the whole stat cache,
 * mirroring the new tree. Null when the scan's order does not allow streaming. */
async function firstSnapshot(repo: Repo, tracked: string[], cache: StatCache, scan: ScanResult, opts: SnapshotOptions): Promise<SnapshotResult | null> {
  const progress: Progress = { phase: 'add', files: 0, totalFiles: scan.count, bytes: 0, totalBytes: scan.bytes() };
  const s = await storeStreamed(repo, scan, (f) => { progress.files++; progress.bytes += f.size; opts.onProgress?.(progress); });
  if (!s) return null;
  const { rows } = s;
  const message = opts.message ?? `${rows.length} added, 0 modified, 0 deleted`;
  const id = await repo.writeCommit({ tree: s.tree, parents: [], paths: tracked, message });
  repo.blobs.flush();
  repo.db.transaction(() => {
    cache.replaceAll(rows);
    cache.setMirror(s.tree);
    if (rows.smudged === 0) { cache.rememberScan(scan); cache.setChunks(chunksAfter(cleanChunks(scan), () => true)); }
    cache.save();
    repo.refs.advanceHead(id, `commit: ${message.split('\n')[0]}`);
  })();
  await afterDvCommit(repo, id, tracked);
  // Built only when asked for (--json): an object per file is what streaming avoids.
  let changes: Change[] | undefined;
  const added = (): Change[] => Array.from(rows.sorted(), (i) => {
    const p = rows.path(i);
    return { path: p, status: 'added', new: { name: path.posix.basename(p), type: 'file', chunks: [], ...rows.content(i) } };
  });
  return { commit: id, get changes() { return (changes ??= added()); }, files: rows.length, bytes: s.bytes };
}

function defaultMessage(changes: Change[]): string {
  const count = (s: Change['status']) => changes.filter((c) => c.status === s).length;
  return `${count('added')} added, ${count('modified')} modified, ${count('deleted')} deleted`;
}

/** dv add PATH...: start tracking PATHs and snapshot them. */
export async function add(repo: Repo, paths: string[], opts: SnapshotOptions = {}): Promise<SnapshotResult> {
  if (paths.length === 0) throw new DvError('nothing to add: give one or more paths', 2);
  const links = linkedParents(repo.root, paths);
  if (links.size) {
    const [dir, to] = links.entries().next().value as [string, string];
    throw new DvError(`'${dir}' is a symbolic link (to ${to}): dv never reads or writes through a link; add '${dir}' itself (recorded as a link) or the real directory`);
  }
  for (const p of paths) {
    if (p === '') throw new DvError('cannot track the project root itself; add its data directories', 2);
    if (!fs.lstatSync(path.join(repo.root, p), { throwIfNoEntry: false })) throw new DvError(`path '${p}' does not exist`);
  }
  return repo.withLock('add', async () => {
    const parent = repo.headCommit();
    const current = parent ? (await repo.readCommit(parent)).paths : [];
    return snapshot(repo, normalizeTracked([...current, ...paths]), normalizeTracked(paths), opts);
  });
}

/** dv commit: snapshot every tracked path again. */
export async function commit(repo: Repo, opts: SnapshotOptions = {}): Promise<SnapshotResult> {
  return repo.withLock('commit', async () => {
    const parent = repo.headCommit();
    if (!parent) throw new DvError("nothing is tracked yet; use 'dv add PATH' first");
    const tracked = (await repo.readCommit(parent)).paths;
    const merging = readMergeState(repo);
    if (!merging) return snapshot(repo, tracked, tracked, opts);
    const open = merging.conflicts.filter((p) => !merging.resolved.includes(p));
    if (open.length) {
      throw new DvError(`merge of ${merging.name} has unresolved conflicts: ${open.join(', ')}; take a side with 'dv checkout --ours|--theirs PATH'`);
    }
    const all = normalizeTracked([...tracked, ...(await repo.readCommit(merging.theirs)).paths]);
    const head = repo.head().branch ?? 'HEAD';
    return snapshot(repo, all, all, { ...opts, message: opts.message ?? `Merge ${merging.name} into ${head}` }, merging);
  });
}

export type { FileEntry };

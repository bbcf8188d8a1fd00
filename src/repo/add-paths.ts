// dv add of paths new to a repository whose stat cache mirrors HEAD: only the new paths
// are scanned (the caller's scan covers them alone) and stored, and only the directories on their paths are rewritten
// (updateTree), so adding a directory to a 1,000,000-file repository costs the new
// files, not a re-read of every committed one. The rows then mirror the new tree.
import path from 'node:path';
import { chunksAfter, cleanChunks } from './mirror-diff.js';
import type { Repo } from './repo.js';
import type { Progress, SnapshotOptions, SnapshotResult } from './snapshot.js';
import { isUnder } from './paths.js';
import type { ScanResult } from './scan.js';
import { updateTree, type Change } from './trees.js';
import type { FileEntry } from './types.js';
import { toEntry, type StatCache, type WsFile } from './workspace.js';
import { afterDvCommit } from './git.js';

/** Whether `scope` shares no file with the paths HEAD tracks (neither holds the other). */
export function disjoint(scope: string[], tracked: string[]): boolean {
  return scope.every((s) => tracked.every((t) => !isUnder(s, t) && !isUnder(t, s)));
}

/** Stores `todo` (in path order) with progress: the tree edits and stat rows they make;
 * `each` sees every stored file's entry. */
export async function storeFiles(repo: Repo, todo: WsFile[], opts: SnapshotOptions,
  each: (f: WsFile, entry: FileEntry) => Promise<void> | void): Promise<{ edits: Map<string, FileEntry | null>; rows: { file: WsFile; hash: string }[] }> {
  const progress: Progress = { phase: 'add', files: 0, totalFiles: todo.length, bytes: 0, totalBytes: todo.reduce((s, f) => s + f.size, 0) };
  const ingest = repo.ingestor({ onBytes: (n) => { progress.bytes += n; } });
  const edits = new Map<string, FileEntry | null>();
  const rows: { file: WsFile; hash: string }[] = [];
  for (const f of todo) {
    const content = await ingest.storeFile(path.join(repo.root, f.path), f.mode, f.size);
    const entry = toEntry(path.posix.basename(f.path), f.mode, content);
    edits.set(f.path, entry);
    rows.push({ file: f, hash: content.hash });
    await each(f, entry);
    progress.files++;
    opts.onProgress?.(progress);
  }
  return { edits, rows };
}

/** Call only when the cache mirrors `parentTree` and `scan` covers paths disjoint from HEAD's. */
export async function addNewPaths(repo: Repo, parent: string, parentTree: string, tracked: string[], scan: ScanResult,
  cache: StatCache, opts: SnapshotOptions): Promise<SnapshotResult> {
  const files = scan.files().sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const changes: Change[] = [];
  const { edits, rows } = await storeFiles(repo, files, opts, (f, entry) => { changes.push({ path: f.path, status: 'added', new: entry }); });
  const message = opts.message ?? `${changes.length} added, 0 modified, 0 deleted`;
  const tree = await updateTree(repo.objects, parentTree, edits);
  const id = await repo.writeCommit({ tree, parents: [parent], paths: tracked, message });
  repo.blobs.flush();
  repo.db.transaction(() => {
    const kept = cache.chunkMarks();
    cache.recordAll(rows);
    cache.setMirror(tree);
    // The old files' chunks still hold; so do the new scan's, once its rows are recorded.
    cache.setChunks(new Map([...kept, ...chunksAfter(cleanChunks(scan), () => true)]));
    cache.save();
    repo.refs.advanceHead(id, `commit: ${message.split('\n')[0]}`);
  })();
  await afterDvCommit(repo, id, tracked);
  return { commit: id, changes, files: cache.size, bytes: cache.totalBytes() };
}

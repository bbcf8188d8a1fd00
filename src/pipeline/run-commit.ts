// Hashing the workspace at the start of a run, what drifted from the base commit,
// and the commit a successful run makes: kept apart from run.ts so the run's flow
// reads on its own.
import type { Actor } from '../repo/protect.js';
import path from 'node:path';
import type { Repo } from '../repo/repo.js';
import { updateTree, type FlatTree } from '../repo/trees.js';
import type { FileEntry } from '../repo/types.js';
import { hashFile, scanWorkspace, type StatCache, type WsFile } from '../repo/workspace.js';
import { isUnder } from './paths.js';
import { runIngestor } from './run-ingest.js';
import type { Prepared } from './run.js';
import type { RunWorkspace } from './run-workspace.js';
import type { StoredOutput } from './stage-run.js';

export interface Hashed {
  files: Map<string, string>;
  ws: Map<string, WsFile>;
  /** Content stored while hashing (files the stat cache did not know). */
  stored: Map<string, StoredOutput>;
}

/**
 * Hashes from the stat cache; unknown files are read, and stored too when `store`
 * (then recorded in `cache`, which the caller saves once their pack is sealed).
 */
export async function hashWorkspace(repo: Repo, root: string, roots: string[], cache: StatCache, store: boolean): Promise<Hashed> {
  const out: Hashed = { files: new Map(), ws: new Map(), stored: new Map() };
  const fresh: { file: WsFile; hash: string }[] = [];
  const ingest = store ? runIngestor(repo) : null;
  for (const f of await scanWorkspace(root, roots, cache.size)) {
    out.ws.set(f.path, f);
    let h = cache.hashOf(f);
    if (h === null && ingest) {
      const c = await ingest.storeFile(path.join(root, f.path), undefined, f.size);
      out.stored.set(f.path, { ...c, mode: f.mode });
      fresh.push({ file: f, hash: c.hash });
      h = c.hash;
    } else if (h === null) h = await hashFile(path.join(root, f.path));
    out.files.set(f.path, h);
  }
  if (store) cache.record(fresh);
  return out;
}

/** Workspace files that differ from the base commit, before any stage runs. */
export interface Drift {
  /** Tracked files whose content or mode differ from the base (or that it lacks). */
  changed: string[];
  /** Files of the base under the scanned roots that are gone from the workspace. */
  deleted: string[];
}

/**
 * Compared while every file is at hand, so that committing a run costs what it
 * changed, not what the workspace holds.
 */
export async function driftFrom(repo: Repo, base: string | null, baseFlat: FlatTree, hashed: Hashed, roots: string[]): Promise<Drift> {
  const tracked = base ? (await repo.readCommit(base)).paths : [];
  const changed: string[] = [];
  let present = 0;
  for (const [rel, hash] of hashed.files) {
    const b = baseFlat.get(rel);
    if (b !== undefined) present++;
    if (b !== undefined && b.hash === hash && b.mode === hashed.ws.get(rel)!.mode) continue;
    if (tracked.some((t) => isUnder(rel, t))) changed.push(rel);
  }
  const deleted: string[] = [];
  if (present < baseFlat.size) {
    for (const rel of baseFlat.keys()) {
      if (!hashed.files.has(rel) && roots.some((r) => isUnder(rel, r))) deleted.push(rel);
    }
  }
  return { changed, deleted };
}

export interface CommitRunOptions {
  /** An experiment's hidden ref: the commit goes there, not on a branch. */
  ref?: string;
  actor?: Actor[];
  /** What is sealed with the commit (CommitChangesOptions.withCommit). */
  withCommit?: (id: string) => Promise<void>;
}

/**
 * Commits what changed against the branch: the outputs, and the tracked inputs the
 * run read. With `ref` (an experiment), the commit goes on that ref, not a branch.
 */
export async function commitRun(repo: Repo, p: Prepared, ws: RunWorkspace, hashed: Hashed, drift: Drift, baseFlat: FlatTree,
  runId: string, message: string, { ref, actor, withCommit }: CommitRunOptions = {}): Promise<string> {
  const changes = await runChanges(repo, p, ws, hashed, drift, baseFlat);
  // Outputs are tracked as declared (reports/summary.csv, not all of reports/).
  const uncached = p.stages.flatMap((s) => s.uncached);
  const track = p.stages.flatMap((s) => s.outs.filter((o) => !uncached.includes(o)));
  if (!ref) {
    if (!repo.refs.get(`heads/${p.branch}`) && p.base) repo.refs.set(`heads/${p.branch}`, p.base);
    return repo.commitChanges(p.branch, changes, message, { run: runId, track, actor, withCommit });
  }
  // commitChanges commits on branches: on a scratch one made at the base, then moved to the ref.
  const scratch = `dv-exp-${runId.slice(0, 16)}`;
  if (p.base) repo.refs.set(`heads/${scratch}`, p.base);
  try {
    const id = await repo.commitChanges(scratch, changes, message, { run: runId, track, actor, withCommit });
    repo.refs.set(ref, id);
    return id;
  } finally {
    repo.refs.delete(`heads/${scratch}`);
  }
}

/**
 * The workspace as the run sees it now (the base, the drift, what the stages so far
 * wrote) as a commit on no branch: the version cluster jobs with `data: s3` read
 * their inputs from, since those need not be committed yet. Nothing moves; the
 * commit is garbage once the run ends.
 */
export async function inputsCommit(repo: Repo, p: Prepared, ws: RunWorkspace, hashed: Hashed, drift: Drift, baseFlat: FlatTree,
  runId: string): Promise<string> {
  const changes = await runChanges(repo, p, ws, hashed, drift, baseFlat);
  // Untracked inputs too: a job reads every file the run scanned, committed or not.
  const ingest = repo.ingestor();
  for (const [rel, hash] of hashed.files) {
    if (changes.has(rel) || ws.contents.has(rel) || baseFlat.get(rel)?.hash === hash) continue;
    changes.set(rel, hashed.stored.get(rel) ?? { ...(await ingest.storeFile(path.join(p.root, rel))), mode: hashed.ws.get(rel)!.mode });
  }
  const entries = new Map<string, FileEntry | null>();
  for (const [rel, c] of changes) entries.set(rel, c && { name: rel.split('/').pop()!, type: 'file', mode: c.mode, size: c.size, hash: c.hash, chunks: c.chunks });
  const base = p.base ? await repo.readCommit(p.base) : null;
  const tree = await updateTree(repo.objects, base?.tree ?? null, entries);
  const id = await repo.writeCommit({ tree, parents: p.base ? [p.base] : [], paths: base?.paths ?? [], message: `inputs of run ${runId}`, git: null });
  repo.blobs.flush();
  return id;
}

/** What a run changed against its base: the outputs so far, and the tracked inputs that drifted. */
async function runChanges(repo: Repo, p: Prepared, ws: RunWorkspace, hashed: Hashed, drift: Drift, baseFlat: FlatTree):
  Promise<Map<string, StoredOutput | null>> {
  const changes = new Map<string, StoredOutput | null>();
  const uncached = p.stages.flatMap((s) => s.uncached);
  for (const [rel, c] of ws.contents) {
    if (uncached.some((u) => isUnder(rel, u))) continue; // cache: false: stays a plain workspace file
    const b = baseFlat.get(rel);
    if (c === null ? b !== undefined : !b || b.hash !== c.hash || b.mode !== c.mode) changes.set(rel, c);
  }
  const ingest = repo.ingestor();
  for (const rel of drift.changed) {
    if (ws.contents.has(rel)) continue;
    const mode = hashed.ws.get(rel)!.mode;
    changes.set(rel, hashed.stored.get(rel) ?? { ...(await ingest.storeFile(path.join(p.root, rel))), mode });
  }
  for (const rel of drift.deleted) if (!ws.contents.has(rel)) changes.set(rel, null);
  return changes;
}

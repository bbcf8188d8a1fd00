// dv checkout: make the tracked paths match a version. Only files whose content
// differs are written; uncommitted work is never overwritten without --force.
import fs from 'node:fs';
import path from 'node:path';
import { DvError } from '../store/errors.js';
import { pool } from '../store/pool.js';
import { resolveGitRevision } from './git.js';
import { restoreFile } from './fileio.js';
import type { Repo } from './repo.js';
import { isUnder, normalizeTracked, type Progress } from './snapshot.js';
import { sameContent, type FlatTree } from './trees.js';
import { hashFile, scanWorkspace, StatCache, type WsFile } from './workspace.js';

const RESTORE_CONCURRENCY = 8;

export interface CheckoutOptions {
  paths?: string[];
  force?: boolean;
  onProgress?: (p: Progress) => void;
}

export interface CheckoutResult {
  commit: string;
  branch: string | null;
  written: string[];
  removed: string[];
}

/** A dv ref, or a git revision of the enclosing repository (through its dv.lock). */
export async function resolveCheckoutTarget(repo: Repo, ref: string): Promise<{ commit: string; branch: string | null }> {
  if (ref.startsWith('git:')) {
    const c = await resolveGitRevision(repo, ref.slice(4));
    if (!c) throw new DvError(`unknown git revision '${ref.slice(4)}'`);
    return { commit: await repo.resolve(c), branch: null };
  }
  try {
    const commit = await repo.resolve(ref);
    return { commit, branch: repo.refs.get(`heads/${ref}`) ? ref : null };
  } catch (e) {
    if (!(e instanceof DvError) || e.code === 'CORRUPT') throw e;
    const c = await resolveGitRevision(repo, ref);
    if (!c) throw e;
    return { commit: await repo.resolve(c), branch: null };
  }
}

function restrict(files: FlatTree, scope: string[]): FlatTree {
  return new Map([...files].filter(([p]) => scope.some((s) => isUnder(p, s))));
}

export async function checkout(repo: Repo, ref: string, opts: CheckoutOptions = {}): Promise<CheckoutResult> {
  return repo.withLock('checkout', async () => {
    const target = await resolveCheckoutTarget(repo, ref);
    const targetCommit = await repo.readCommit(target.commit);
    const headId = repo.headCommit();
    const headPaths = headId ? (await repo.readCommit(headId)).paths : [];
    const scope = opts.paths?.length ? normalizeTracked(opts.paths) : normalizeTracked([...headPaths, ...targetCommit.paths]);
    const want = restrict(await repo.flatten(target.commit), scope);
    const have = restrict(await repo.flatten(headId), scope);
    const cache = new StatCache(repo.db);
    const ws = new Map<string, WsFile>((await scanWorkspace(repo.root, scope, cache.size)).map((f) => [f.path, f]));

    const current = async (f: WsFile) => cache.hashOf(f) ?? (await hashFile(path.join(repo.root, f.path)));
    const toWrite: string[] = [];
    const toRemove: string[] = [];
    const conflicts: string[] = [];
    for (const p of new Set([...want.keys(), ...ws.keys()])) {
      const w = want.get(p);
      const f = ws.get(p);
      const h = have.get(p);
      if (!f) { if (w) toWrite.push(p); continue; }
      if (!w && !h) continue; // untracked new file: left alone, as git does
      const hash = await current(f);
      const mine = { ...f, name: p, type: 'file' as const, hash, chunks: [] };
      if (w && sameContent(mine, w)) continue;
      // Safe to replace: the content is committed (HEAD's version, the target's, or a stored one).
      const safe = (h && h.hash === hash) || (w && w.hash === hash) || cache.hashOf(f) !== null;
      if (!safe && !opts.force) conflicts.push(p);
      if (w) toWrite.push(p);
      else toRemove.push(p);
    }
    // Untracked files are left alone, unless they stand where the target puts a file
    // (inside a directory that becomes a file) or a directory (a file that becomes one):
    // writing the target would destroy them, so they are conflicts too.
    const untracked = (p: string) => ws.has(p) && !want.has(p) && !have.has(p);
    for (const p of ws.keys()) {
      if (!untracked(p)) continue;
      for (let d = path.posix.dirname(p); d !== '.'; d = path.posix.dirname(d)) {
        if (want.has(d)) { if (!opts.force) conflicts.push(p); break; }
      }
    }
    for (const p of want.keys()) {
      for (let d = path.posix.dirname(p); d !== '.'; d = path.posix.dirname(d)) {
        if (untracked(d) && !toRemove.includes(d)) { if (!opts.force) conflicts.push(d); toRemove.push(d); break; }
      }
    }
    if (conflicts.length) {
      const shown = conflicts.sort().slice(0, 5).join(', ') + (conflicts.length > 5 ? `, ... (${conflicts.length} files)` : '');
      throw new DvError(`checkout would overwrite uncommitted changes in ${shown}; commit them or use --force`);
    }

    const progress: Progress = { phase: 'checkout', files: 0, totalFiles: toWrite.length, bytes: 0,
      totalBytes: toWrite.reduce((s, p) => s + want.get(p)!.size, 0) };
    const recorded: { file: WsFile; hash: string }[] = [];
    for (const p of toRemove) fs.rmSync(path.join(repo.root, p), { force: true });
    removeEmptyDirs(repo.root, toRemove, want);
    // Several restores in flight: each one's fsync overlaps the next one's writes.
    await pool(toWrite.sort(), RESTORE_CONCURRENCY, async (p) => {
      const e = want.get(p)!;
      const abs = path.join(repo.root, p);
      const existing = fs.statSync(abs, { throwIfNoEntry: false });
      if (existing?.isDirectory()) fs.rmSync(abs, { recursive: true });
      await restoreFile(repo.blobs, e, abs, e.mode, p);
      const st = fs.statSync(abs);
      recorded.push({ file: { path: p, size: st.size, mtime: st.mtimeMs, ino: st.ino, mode: e.mode }, hash: e.hash });
      progress.files++;
      progress.bytes += e.size;
      opts.onProgress?.(progress);
    });
    // Mode-only changes (the executable bit) are fixed in place.
    const written = new Set(toWrite);
    for (const [p, w] of want) {
      const f = ws.get(p);
      if (f && !written.has(p) && f.mode !== w.mode) fs.chmodSync(path.join(repo.root, p), w.mode);
    }
    repo.db.transaction(() => {
      cache.forget(toRemove);
      cache.record(recorded);
      if (!opts.paths?.length) {
        cache.mirrorIfComplete(targetCommit.tree, want);
        if (target.branch) repo.refs.setHeadBranch(target.branch);
        else repo.refs.setHeadDetached(target.commit);
      }
      cache.save();
    })();
    return { commit: target.commit, branch: opts.paths?.length ? repo.head().branch : target.branch, written: toWrite, removed: toRemove };
  });
}

/** Directories emptied by removals go too, unless the target still has files there. */
function removeEmptyDirs(root: string, removed: string[], want: FlatTree): void {
  const dirs = new Set<string>();
  for (const p of removed) for (let d = path.posix.dirname(p); d !== '.'; d = path.posix.dirname(d)) dirs.add(d);
  const keep = new Set<string>();
  for (const p of want.keys()) for (let d = path.posix.dirname(p); d !== '.'; d = path.posix.dirname(d)) keep.add(d);
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    if (keep.has(d)) continue;
    try { fs.rmdirSync(path.join(root, d)); } catch { /* not empty: holds untracked files */ }
  }
}

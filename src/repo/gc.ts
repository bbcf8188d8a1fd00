// dv gc: drop what no root (reachable.ts: refs, HEAD, reflog, dv.lock in git history,
// pipeline records) reaches.
import type { Repo } from './repo.js';
import { gcRoots, markReachable, reflogExpireMs, rootList, type GcRoots, type MarkResult } from './reachable.js';
import { BlobType } from '../store/packfile.js';
import { StatCache } from './workspace.js';
import { blobsOfPack, clearTmp, deletePack, indexedPacks, packFilesOnDisk, repack } from '../store/maintenance.js';
import { packPath } from '../store/packwriter.js';
import { protectedSince } from './leases.js';
import fs from 'node:fs';

export interface GcResult {
  dryRun: boolean;
  packsDeleted: number;
  packsRewritten: number;
  objectsDeleted: number;
  bytesFreed: number;
  orphanPacks: number;
  /** Packs left alone: written while a `dv serve` may still commit their data (see leases.ts). */
  packsProtected: number;
  /** Run records (type 4) and run-cache entries (type 5) deleted by `pruneRunsMs`. */
  runsPruned: number;
  cacheEntriesPruned: number;
  /** What was kept alive, by kind of root (see reachable.ts). */
  roots: GcRoots;
  /** Reflog entries dropped for being older than the expiry (not on a dry run). */
  reflogExpired: number;
}

export interface GcOptions {
  dryRun?: boolean;
  /**
   * The live set, when something other than every ref, HEAD, run record and run-cache
   * entry decides it (the pipeline's run retention, src/pipeline/retention.ts).
   */
  mark?: (repo: Repo) => Promise<MarkResult>;
  /** Called after objects were deleted (not on a dry run), inside the lock. */
  afterDelete?: () => void;
}

/** Packs gc deleted or rewrote: their content was garbage here, so fetch skips them. */
export function droppedPacks(repo: Repo): Set<string> {
  return new Set(repo.db.prepare('SELECT id FROM dropped_packs').pluck().all() as string[]);
}

export function forgetDropped(repo: Repo, ids: string[]): void {
  const del = repo.db.prepare('DELETE FROM dropped_packs WHERE id = ?');
  repo.db.transaction(() => { for (const id of ids) del.run(id); })();
}

const mtimeMs = (file: string): number | null => fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? null;

export async function gc(repo: Repo, opts: GcOptions = {}): Promise<GcResult> {
  return repo.withLock('gc', async () => {
    const now = Date.now();
    const reflogExpired = opts.dryRun ? 0 : repo.refs.expireReflog(new Date(now - reflogExpireMs(repo)).toISOString());
    if (!opts.dryRun) repo.refs.compactLog(); // .dv/refs.log: one line per live ref and reflog entry
    const roots = await gcRoots(repo, now);
    const { live, fileHashes } = opts.mark ? await opts.mark(repo) : await markReachable(repo, rootList(roots));
    const result: GcResult = {
      dryRun: !!opts.dryRun, packsDeleted: 0, packsRewritten: 0, objectsDeleted: 0, bytesFreed: 0, orphanPacks: 0, packsProtected: 0,
      runsPruned: 0, cacheEntriesPruned: 0, roots, reflogExpired,
    };
    // Commits wait for our lock, so what can be in flight is data stored but not yet
    // committed by a lease holder (dv serve): packs written since it started are kept.
    const since = protectedSince(repo.dvDir);
    const isProtected = (mtime: number): boolean => since !== null && mtime >= since;
    for (const pack of indexedPacks(repo.blobs)) {
      const blobs = blobsOfPack(repo.blobs, pack.id);
      const dead = blobs.filter((b) => !live.has(b.id.toString('hex')));
      if (dead.length === 0) continue;
      const mtime = mtimeMs(packPath(repo.blobs.packsDir, pack.id));
      if (mtime !== null && isProtected(mtime)) { result.packsProtected++; continue; }
      result.objectsDeleted += dead.length;
      // Records and entries die only when opts.mark left them out (run retention).
      result.runsPruned += dead.filter((b) => b.type === BlobType.RunRecord).length;
      result.cacheEntriesPruned += dead.filter((b) => b.type === BlobType.RunCache).length;
      result.bytesFreed += dead.reduce((s, b) => s + b.length, 0);
      if (dead.length === blobs.length) result.packsDeleted++;
      else result.packsRewritten++;
      if (!opts.dryRun) {
        await repack(repo.blobs, pack.id, live);
        repo.db.prepare('INSERT OR IGNORE INTO dropped_packs (id) VALUES (?)').run(pack.id);
      }
    }
    // Packs written by an interrupted process but never indexed.
    const indexed = new Set(indexedPacks(repo.blobs).map((p) => p.id));
    for (const id of packFilesOnDisk(repo.blobs)) {
      if (indexed.has(id)) continue;
      const file = packPath(repo.blobs.packsDir, id);
      // Sealed by a lease holder a moment ago and about to be indexed.
      if (isProtected(fs.statSync(file).mtimeMs)) { result.packsProtected++; continue; }
      result.orphanPacks++;
      result.bytesFreed += fs.statSync(file).size;
      if (!opts.dryRun) deletePack(repo.blobs, id);
    }
    if (!opts.dryRun) {
      if (result.objectsDeleted) opts.afterDelete?.();
      clearTmp(repo.blobs);
      // A stat cache row vouches that its content is stored; after gc that holds only for reachable files.
      const cache = new StatCache(repo.db);
      cache.retainOnly((_p, hash) => fileHashes.has(hash));
      cache.save();
    }
    return result;
  });
}

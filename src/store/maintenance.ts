// Pack-level maintenance used by gc, fsck and repair: listing packs and index rows,
// deleting, repacking, replacing the index. Knows nothing about commits: callers say what is live.
import fs from 'node:fs';
import path from 'node:path';
import type { BlobStore } from './blobstore.js';
import { CorruptionError } from './errors.js';
import { alive } from './lock.js';
import { blake3 } from './hash.js';
import { PackWriter, packPath, type SealedPack } from './packwriter.js';

export interface PackRow {
  id: string;
  size: number;
  blobs: number;
}

export function indexedPacks(store: BlobStore): PackRow[] {
  return store.db.prepare('SELECT id, size, blobs FROM packs ORDER BY id').all() as PackRow[];
}

/** Pack ids present as files (indexed or not). */
export function packFilesOnDisk(store: BlobStore): string[] {
  const out: string[] = [];
  if (!fs.existsSync(store.packsDir)) return out;
  for (const d of fs.readdirSync(store.packsDir)) {
    const dir = path.join(store.packsDir, d);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir)) if (f.endsWith('.pack')) out.push(f.slice(0, -5));
  }
  return out.sort();
}

export interface PackBlob {
  id: Buffer;
  type: number;
  offset: number;
  length: number;
}

export function blobsOfPack(store: BlobStore, pack: string): PackBlob[] {
  return store.db.prepare('SELECT id, type, offset, length FROM blobs WHERE pack = ? ORDER BY offset').all(pack) as PackBlob[];
}

/** Removes a pack and its index rows; the rows go first so no reader is sent to a missing file. */
export function deletePack(store: BlobStore, pack: string): void {
  store.db.transaction(() => {
    store.db.prepare('DELETE FROM blobs WHERE pack = ?').run(pack);
    store.db.prepare('DELETE FROM packs WHERE id = ?').run(pack);
  })();
  store.local.forget(pack);
  fs.rmSync(packPath(store.packsDir, pack), { force: true });
}

/** Copies the blobs in `keep` into a fresh pack, then drops the old one. */
export async function repack(store: BlobStore, pack: string, keep: Set<string>): Promise<string | null> {
  const live = blobsOfPack(store, pack).filter((b) => keep.has(b.id.toString('hex')));
  if (live.length === 0) { deletePack(store, pack); return null; }
  const w = await PackWriter.create(store.tmpDir);
  try {
    for (const b of live) {
      const data = store.local.readSync(pack, b.offset, b.length);
      if (!blake3(data).equals(b.id)) throw new CorruptionError(`object ${b.id.toString('hex')} in pack ${pack} is corrupt; run dv fsck`);
      w.add(b.type, b.id, data);
    }
  } catch (e) {
    w.abort();
    throw e;
  }
  const sealed = w.seal(store.packsDir);
  store.db.transaction(() => {
    store.db.prepare('DELETE FROM blobs WHERE pack = ?').run(pack);
    store.db.prepare('DELETE FROM packs WHERE id = ?').run(pack);
    store.indexPack(sealed);
  })();
  store.local.forget(pack);
  if (sealed.id !== pack) fs.rmSync(packPath(store.packsDir, pack), { force: true });
  return sealed.id;
}

/** The pid a temp entry's name carries (`pack-PID-…`, `fetch-ID-PID-…`, `restore-PID-…`,
 * `import-PID-…`), or null for names without one. */
export function tmpOwner(name: string): number | null {
  const m = /^(?:pack|restore|import)-(\d+)-|^fetch-[0-9a-f]+-(\d+)-/.exec(name);
  return m ? Number(m[1] ?? m[2]) : null;
}

/** The suffix of a temp entry renamed to be deleted (a run's set-aside outputs once its
 * result is committed): garbage on its way out, never a leftover anyone could need. */
export const DISCARDED = '.discarded';

/** Temp entries that are not on their way out (DISCARDED): what `dv fsck` reports. */
export function tmpLeftovers(store: BlobStore): string[] {
  if (!fs.existsSync(store.tmpDir)) return [];
  return fs.readdirSync(store.tmpDir).filter((n) => !n.endsWith(DISCARDED));
}

/** Leftovers of interrupted writers. An entry whose name carries the pid of a process
 * that no longer runs goes at once, as does a discarded one; others (a pipeline's
 * scratch directory, whose process does not hold the lock) only once older than
 * `olderThanMs`. */
export function clearTmp(store: BlobStore, olderThanMs = 3600_000): number {
  if (!fs.existsSync(store.tmpDir)) return 0;
  let n = 0;
  for (const name of fs.readdirSync(store.tmpDir)) {
    const p = path.join(store.tmpDir, name);
    const pid = tmpOwner(name);
    const dead = name.endsWith(DISCARDED) || (pid !== null && pid !== process.pid && !alive(pid));
    if (!dead && Date.now() - fs.statSync(p).mtimeMs < olderThanMs) continue;
    fs.rmSync(p, { recursive: true, force: true });
    n++;
  }
  return n;
}

/** Every pack id an index row names (normally those of the packs table). */
export function packsNamedByRows(store: BlobStore): string[] {
  return store.db.prepare('SELECT DISTINCT pack FROM blobs ORDER BY pack').pluck().all() as string[];
}

/** Bytes 18 and 19 of an SQLite file: its read and write format versions (1 rollback
 * journal, 2 WAL). Anything else makes SQLite open the file read-only, silently. */
function headerVersions(file: string): [number, number] | null {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const b = Buffer.alloc(2);
      return fs.readSync(fd, b, 0, 2, 18) === 2 ? [b[0], b[1]] : null;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** Puts back the format versions of a damaged header (WAL, as dv always uses). Takes
 * effect when the database is next opened. Returns whether it changed anything. */
export function repairDatabaseHeader(store: BlobStore): boolean {
  const v = headerVersions(store.db.name);
  if (!v || (v[0] === 2 && v[1] === 2)) return false;
  const fd = fs.openSync(store.db.name, 'r+');
  try {
    fs.writeSync(fd, Buffer.from([2, 2]), 0, 2, 18);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/** SQLite's own check of its file: [] when the database is sound. */
export function databaseProblems(store: BlobStore): string[] {
  const v = headerVersions(store.db.name);
  if (v && (v[0] !== 2 || v[1] !== 2)) return [`the file header is damaged (format versions ${v[0]}/${v[1]}, not 2/2: SQLite opens it read-only)`];
  try {
    const rows = store.db.prepare('PRAGMA integrity_check').pluck().all() as string[];
    return rows.length === 1 && rows[0] === 'ok' ? [] : rows;
  } catch (e) {
    return [(e as Error).message];
  }
}

/** Replaces the whole blob index with what `packs` hold, in one transaction. The first
 * pack listed that holds a blob is the one the index sends readers to. */
export function replaceIndex(store: BlobStore, packs: SealedPack[]): void {
  store.db.transaction(() => {
    store.db.prepare('DELETE FROM blobs').run();
    store.db.prepare('DELETE FROM packs').run();
    for (const p of packs) store.indexPack(p);
  })();
  store.local.close();
}

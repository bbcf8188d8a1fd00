// Rebuilding the blob index from the packs (dv fsck --repair). The packs are the truth
// and the index is derived from their tables, so the index is thrown away and rebuilt
// from every pack file that checks out whole. A damaged pack is never just deleted: what
// still verifies in it (by its table, or by the old index rows when the table itself is
// damaged) is copied into a fresh pack, and a copy of the file is set aside in .dv/lost+found/.
import fs from 'node:fs';
import path from 'node:path';
import type { BlobStore } from './blobstore.js';
import { DvError } from './errors.js';
import { STORE_MIGRATIONS } from './db.js';
import { fsyncDir } from './fsutil.js';
import { blobsOfPack, databaseProblems, packFilesOnDisk, repairDatabaseHeader, replaceIndex } from './maintenance.js';
import { PackWriter, packPath, type SealedPack } from './packwriter.js';
import type { PackEntry } from './packfile.js';
import { salvageTables } from './salvage.js';
import { blobIntact, checkPackFile, PACK_ID_RE } from './verify.js';

export interface SetAside {
  pack: string;
  /** Where the damaged file now is. */
  file: string;
  problems: string[];
}

export interface RebuildResult {
  /** Packs indexed (intact ones, plus the salvage pack if one was written). */
  packs: number;
  objects: number;
  setAside: SetAside[];
  /** Objects copied out of damaged packs into a fresh one. */
  salvaged: number;
  /** Ids (hex) whose only copies were in damaged packs and did not verify. */
  lost: string[];
  /** What SQLite's own check still reports after the rebuild ([] = sound). */
  database: string[];
}

interface Damaged {
  id: string;
  file: string;
  problems: string[];
  /** Candidates to salvage: (id, offset, length, type) from the table or the old rows. */
  candidates: PackEntry[];
}

export async function rebuildIndex(store: BlobStore, lostDir: string, onProgress?: (done: number, total: number) => void): Promise<RebuildResult> {
  if (repairDatabaseHeader(store)) {
    throw new DvError('repaired the header of .dv/dv.db (SQLite had opened it read-only); run dv fsck --repair again to finish', 1, 'AGAIN');
  }
  const good: (SealedPack & { entries: PackEntry[] })[] = [];
  const damaged: Damaged[] = [];
  const ids = packFilesOnDisk(store).filter((id) => PACK_ID_RE.test(id));
  for (const [i, id] of ids.entries()) {
    const file = packPath(store.packsDir, id);
    const check = await checkPackFile(file, id);
    if (check.problems.length === 0 && check.entries) good.push({ id, size: check.size, entries: check.entries });
    else {
      const candidates = check.entries
        ? check.entries.filter((e) => !check.badEntries.has(e.id.toString('hex')))
        : oldRows(store, id);
      damaged.push({ id, file, problems: check.problems, candidates });
    }
    onProgress?.(i + 1, ids.length);
  }
  const have = new Set(good.flatMap((p) => p.entries.map((e) => e.id.toString('hex'))));
  const lost = new Set<string>();
  let salvage: SealedPack | null = null;
  let salvaged = 0;
  // A copy first: when everything in a damaged pack verifies, the salvage pack comes out
  // byte for byte the original and is sealed under the same name, over the damaged file.
  const setAside = damaged.map((d) => ({ pack: d.id, file: copyAside(d.file, lostDir), problems: d.problems }));
  if (damaged.length) {
    const w = await PackWriter.create(store.tmpDir);
    try {
      for (const d of damaged) {
        const all = new Set([...oldRows(store, d.id).map((r) => r.id.toString('hex')), ...d.candidates.map((c) => c.id.toString('hex'))]);
        for (const c of d.candidates) {
          const hex = c.id.toString('hex');
          if (have.has(hex)) continue;
          const bytes = blobIntact(d.file, c.id, c.offset, c.length);
          if (!bytes) continue;
          w.add(c.type, c.id, bytes);
          have.add(hex);
          salvaged++;
        }
        for (const hex of all) if (!have.has(hex)) lost.add(hex);
      }
      salvage = w.entries.length ? w.seal(store.packsDir) : (w.abort(), null);
    } catch (e) {
      w.abort();
      throw e;
    }
  }
  const packs = salvage ? [...good, salvage] : good;
  try {
    replaceIndex(store, packs);
  } catch {
    recreateTables(store); // the old tables' pages are damaged: start them afresh
    replaceIndex(store, packs);
  }
  // Only once the index no longer names them: remove the damaged originals.
  for (const d of damaged) if (d.id !== salvage?.id) fs.rmSync(d.file, { force: true });
  for (const hex of have) lost.delete(hex);
  // A damaged index of any table is rebuilt from the table, a table that no longer reads
  // from its readable rows (salvage.ts); VACUUM rewrites the whole file (reclaiming the
  // pages of tables unlinked above).
  let database = databaseProblems(store);
  for (const step of [() => store.db.exec('REINDEX'), () => salvageTables(store.db), () => store.db.exec('VACUUM')]) {
    if (!database.length) break;
    try { step(); } catch { /* reported below */ }
    database = databaseProblems(store);
  }
  return { packs: packs.length, objects: have.size, setAside, salvaged, lost: [...lost].sort(), database };
}

/** The old index rows of a pack whose table is unreadable (they may be damaged too:
 * every candidate is verified against its id before it is copied). */
function oldRows(store: BlobStore, pack: string): PackEntry[] {
  try {
    return blobsOfPack(store, pack).map((r) => ({ id: r.id, type: r.type, offset: r.offset, length: r.length }));
  } catch {
    return [];
  }
}

/** The old tables' pages are damaged: drop them, or when even that fails, unlink them
 * from the schema (their pages become free space, which VACUUM reclaims) and start
 * them afresh. Everything they held is derived from the packs. */
function recreateTables(store: BlobStore): void {
  const db = store.db;
  try {
    try {
      db.exec('DROP TABLE IF EXISTS blobs; DROP TABLE IF EXISTS packs;');
    } catch {
      const version = db.pragma('schema_version', { simple: true }) as number;
      db.unsafeMode(true); // lifts SQLite's defensive mode, which forbids editing the schema
      try {
        db.pragma('writable_schema = ON');
        db.prepare("DELETE FROM sqlite_schema WHERE tbl_name IN ('blobs', 'packs')").run();
        db.pragma(`schema_version = ${version + 1}`);
        db.pragma('writable_schema = OFF');
      } finally {
        db.unsafeMode(false);
      }
    }
    db.exec(STORE_MIGRATIONS[0].up);
  } catch (e) {
    throw new DvError(`cannot rebuild the index in .dv/dv.db (${(e as Error).message}); move .dv/dv.db aside and run dv fsck --repair again`);
  }
}

function copyAside(file: string, lostDir: string): string {
  fs.mkdirSync(lostDir, { recursive: true });
  let dest = path.join(lostDir, path.basename(file));
  for (let n = 1; fs.existsSync(dest); n++) dest = path.join(lostDir, `${path.basename(file)}.${n}`);
  fs.copyFileSync(file, dest, fs.constants.COPYFILE_EXCL);
  const fd = fs.openSync(dest, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  fsyncDir(lostDir);
  return dest;
}

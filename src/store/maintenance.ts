// Pack-level maintenance used by gc and fsck: listing packs on disk, verifying them,
// deleting and repacking. Knows nothing about commits: callers say what is live.
import fs from 'node:fs';
import path from 'node:path';
import type { BlobStore } from './blobstore.js';
import { CorruptionError } from './errors.js';
import { blake3 } from './hash.js';
import { readTableFromFile, type PackEntry } from './packfile.js';
import { PackWriter, packPath } from './packwriter.js';

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

export interface PackCheck {
  pack: string;
  problem?: string;
  /** Blob ids (hex) whose bytes are missing or do not match their id. */
  bad: string[];
}

/** Re-reads a pack: its table must match the index, and every blob its hash. */
export async function verifyPack(store: BlobStore, pack: string): Promise<PackCheck> {
  const indexed = blobsOfPack(store, pack);
  const file = packPath(store.packsDir, pack);
  const all = () => ({ pack, bad: indexed.map((b) => b.id.toString('hex')) });
  if (!fs.existsSync(file)) return { ...all(), problem: 'pack file is missing' };
  let table: PackEntry[];
  try {
    table = await readTableFromFile(file, pack);
  } catch (e) {
    return { ...all(), problem: (e as Error).message };
  }
  const inTable = new Map(table.map((e) => [e.id.toString('hex'), e]));
  const bad: string[] = [];
  store.local.forget(pack);
  for (const b of indexed) {
    const hex = b.id.toString('hex');
    const t = inTable.get(hex);
    if (!t || t.offset !== b.offset || t.length !== b.length) { bad.push(hex); continue; }
    try {
      const data = store.local.readSync(pack, b.offset, b.length);
      if (!blake3(data).equals(b.id)) bad.push(hex);
    } catch (e) {
      if (!(e instanceof CorruptionError)) throw e;
      bad.push(hex);
    }
  }
  return { pack, bad };
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

/** Leftovers of interrupted writers; recent entries may belong to a running process
 * that does not hold the lock (a pipeline's scratch directory), so they stay. */
export function clearTmp(store: BlobStore, olderThanMs = 3600_000): number {
  if (!fs.existsSync(store.tmpDir)) return 0;
  let n = 0;
  for (const name of fs.readdirSync(store.tmpDir)) {
    const p = path.join(store.tmpDir, name);
    if (Date.now() - fs.statSync(p).mtimeMs < olderThanMs) continue;
    fs.rmSync(p, { recursive: true, force: true });
    n++;
  }
  return n;
}

// The store half of dv fsck: SQLite's own integrity check, every pack file (checkPackFile)
// and every index row against the pack it names (present, inside it, same type, offset
// and length as the pack's table, bytes hashing to the id), and every table entry
// against the index. Knows nothing about commits; repo/fsck.ts adds refs and trees.
import fs from 'node:fs';
import type { BlobStore } from './blobstore.js';
import { blobsOfPack, databaseProblems, indexedPacks, packFilesOnDisk, packsNamedByRows } from './maintenance.js';
import { packPath } from './packwriter.js';
import { printable } from './errors.js';
import { blobIntact, checkPackFile, PACK_ID_RE } from './verify.js';

/** Problem kinds (stable: `dv fsck --json` groups by them; README documents them). */
export type ProblemKind =
  | 'database' | 'pack' | 'unindexed-pack' | 'index' | 'unindexed-object' | 'object'
  | 'missing-object' | 'ref' | 'damaged-file' | 'damaged-directory' | 'temp-files';

export interface Problem {
  kind: ProblemKind;
  severity: 'error' | 'warning';
  message: string;
  pack?: string;
  object?: string;
  ref?: string;
  path?: string;
  commit?: string;
}

export interface StoreCheck {
  problems: Problem[];
  /** Ids (hex) whose indexed copy is missing, misplaced or damaged. */
  bad: Set<string>;
  packs: number;
  objects: number;
}

export async function checkStore(store: BlobStore, onProgress?: (done: number, total: number) => void): Promise<StoreCheck> {
  const problems: Problem[] = [];
  const bad = new Set<string>();
  const err = (p: Omit<Problem, 'severity'>) => problems.push({ ...p, severity: 'error' });
  for (const m of databaseProblems(store)) err({ kind: 'database', message: `database .dv/dv.db: ${printable(m)}` });
  const table = new Map(indexedPacks(store).map((p) => [p.id, p]));
  const ids = [...new Set([...table.keys(), ...packsNamedByRows(store), ...packFilesOnDisk(store)])].sort();
  let objects = 0;
  for (const [i, id] of ids.entries()) {
    const rows = blobsOfPack(store, id);
    objects += rows.length;
    const allBad = () => rows.forEach((r) => bad.add(r.id.toString('hex')));
    const name = printable(id);
    if (!PACK_ID_RE.test(id)) {
      err({ kind: 'index', pack: name, message: `${rows.length} index row(s) name an invalid pack id '${name}'` });
      allBad();
      continue;
    }
    const file = packPath(store.packsDir, id);
    const row = table.get(id);
    if (!fs.existsSync(file)) {
      err({ kind: 'pack', pack: id, message: `pack ${id}: pack file is missing` });
      allBad();
      continue;
    }
    if (!row && rows.length === 0) {
      problems.push({ kind: 'unindexed-pack', severity: 'warning', pack: id, message: `pack ${id} is not indexed (left by an interrupted command); dv gc removes it, dv fsck --repair indexes it` });
      continue;
    }
    const check = await checkPackFile(file, id);
    for (const p of check.problems) err({ kind: 'pack', pack: id, message: `pack ${id}: ${p}` });
    if (!row) err({ kind: 'index', pack: id, message: `${rows.length} index row(s) name pack ${id}, which the packs table lacks` });
    else if (row.size !== check.size || (check.entries && row.blobs !== check.entries.length)) {
      err({ kind: 'index', pack: id, message: `pack ${id}: the index records ${row.size} bytes and ${row.blobs} objects, the file has ${check.size} bytes and ${check.entries?.length ?? '?'} objects` });
    }
    const inTable = new Map((check.entries ?? []).map((e) => [e.id.toString('hex'), e]));
    let misplaced = 0;
    for (const r of rows) {
      const hex = r.id.toString('hex');
      if (!check.entries) {
        if (!blobIntact(file, r.id, r.offset, r.length)) bad.add(hex);
        continue;
      }
      const t = inTable.get(hex);
      if (!t || t.offset !== r.offset || t.length !== r.length || t.type !== r.type) {
        bad.add(hex);
        if (misplaced++ < 20) err({ kind: 'index', pack: id, object: hex, message: `index row of object ${hex} does not match pack ${id} (${t ? 'offset, length or type differ' : 'the pack has no such object'})` });
      } else if (check.badEntries.has(hex)) bad.add(hex);
    }
    if (misplaced > 20) err({ kind: 'index', pack: id, message: `${misplaced - 20} more index row(s) do not match pack ${id}` });
    let unindexed = 0;
    const here = new Set(rows.map((r) => r.id.toString('hex')));
    for (const [hex, e] of inTable) {
      if (here.has(hex) || check.badEntries.has(hex) || store.locate(e.id)) continue;
      if (unindexed++ < 20) err({ kind: 'unindexed-object', pack: id, object: hex, message: `object ${hex} in pack ${id} is not in the index` });
    }
    if (unindexed > 20) err({ kind: 'unindexed-object', pack: id, message: `${unindexed - 20} more object(s) of pack ${id} are not in the index` });
    onProgress?.(i + 1, ids.length);
  }
  return { problems, bad, packs: table.size, objects };
}

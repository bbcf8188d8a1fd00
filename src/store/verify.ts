// Reading one pack file end to end and saying exactly what is wrong with it: the magic,
// the footer, the table and its checksum, every blob against its id, and the whole
// file against its name (the pack id is the BLAKE3 of its bytes, so this last check
// catches a flip in any byte, including ones no table entry covers). Used by fsck,
// by the index rebuild and by push (which must never upload a pack that fails it).
import fs from 'node:fs';
import { blake3, createHasher } from './hash.js';
import { PACK_MAGIC, readTable, type PackEntry } from './packfile.js';

const PIECE = 8 << 20;

export interface PackFileCheck {
  /** The file's size in bytes (0 when it could not be opened). */
  size: number;
  /** What is wrong with the file as a whole; empty when it is intact. */
  problems: string[];
  /** The parsed table, or null when the footer or table is unreadable. */
  entries: PackEntry[] | null;
  /** Ids (hex) of table entries whose bytes do not hash to their id. */
  badEntries: Set<string>;
}

export const PACK_ID_RE = /^[0-9a-f]{64}$/;

/** Reads `file` once, front to back (large sequential reads), checking everything. */
export async function checkPackFile(file: string, id: string): Promise<PackFileCheck> {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    return { size: 0, problems: [`cannot open the pack file (${(e as NodeJS.ErrnoException).code ?? 'error'})`], entries: null, badEntries: new Set() };
  }
  try {
    const size = fs.fstatSync(fd).size;
    const problems: string[] = [];
    const readAt = (offset: number, length: number): Buffer => {
      const buf = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const n = fs.readSync(fd, buf, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    };
    let entries: PackEntry[] | null = null;
    try {
      entries = await readTable(id, size, readAt);
    } catch (e) {
      problems.push((e as Error).message.replace(`pack ${id} `, ''));
    }
    if (!readAt(0, PACK_MAGIC.length).equals(PACK_MAGIC)) problems.push('bad magic at the start of the file (not DVPACK01)');
    const badEntries = new Set<string>();
    const hasher = await createHasher();
    const sorted = [...(entries ?? [])].sort((a, b) => a.offset - b.offset);
    let ei = 0;
    const checkEntry = (e: PackEntry, bytes: Buffer): void => {
      if (bytes.length !== e.length || !blake3(bytes).equals(e.id)) badEntries.add(e.id.toString('hex'));
    };
    // One buffer for every piece: nothing keeps a view of it past its piece.
    const piece = Buffer.allocUnsafe(Math.min(PIECE, size));
    for (let pos = 0; pos < size;) {
      const n = fs.readSync(fd, piece, 0, Math.min(PIECE, size - pos), pos);
      if (n === 0) break;
      hasher.update(piece.subarray(0, n));
      const end = pos + n;
      for (; ei < sorted.length && sorted[ei].offset < end; ei++) {
        const e = sorted[ei];
        // An entry that starts before this piece (overlapping another: a hand-made table)
        // or runs past its end is read on its own; that is one entry per piece at most.
        const inside = e.offset >= pos && e.offset + e.length <= end;
        checkEntry(e, inside ? piece.subarray(e.offset - pos, e.offset - pos + e.length) : readAt(e.offset, e.length));
      }
      pos = end;
    }
    for (; ei < sorted.length; ei++) badEntries.add(sorted[ei].id.toString('hex'));
    if (hasher.digestHex() !== id) problems.push('its bytes do not hash to its name (the file was changed after it was written)');
    if (badEntries.size) problems.push(`${badEntries.size} object(s) in it do not match their ids`);
    return { size, problems, entries, badEntries };
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether the bytes at (offset, length) of `file` hash to `id`: a salvage check for
 * blobs of a pack whose table is unreadable, located by the index instead. */
export function blobIntact(file: string, id: Buffer, offset: number, length: number): Buffer | null {
  let fd: number;
  try { fd = fs.openSync(file, 'r'); } catch { return null; }
  try {
    const buf = Buffer.alloc(length);
    const n = fs.readSync(fd, buf, 0, length, offset);
    return n === length && blake3(buf).equals(id) ? buf : null;
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

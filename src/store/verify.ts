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
    let carry = Buffer.alloc(0);
    let carryStart = 0;
    const checkEntry = (e: PackEntry, bytes: Buffer): void => {
      if (bytes.length !== e.length || !blake3(bytes).equals(e.id)) badEntries.add(e.id.toString('hex'));
    };
    for (let pos = 0; pos < size;) {
      const piece = readAt(pos, Math.min(PIECE, size - pos));
      if (piece.length === 0) break;
      hasher.update(piece);
      const buf = carry.length ? Buffer.concat([carry, piece]) : piece;
      const bufStart = carry.length ? carryStart : pos;
      const bufEnd = bufStart + buf.length;
      pos += piece.length;
      while (ei < sorted.length && sorted[ei].offset + sorted[ei].length <= bufEnd) {
        const e = sorted[ei++];
        // Entries overlapping an earlier one (a hand-made table) are read on their own.
        checkEntry(e, e.offset >= bufStart ? buf.subarray(e.offset - bufStart, e.offset - bufStart + e.length) : readAt(e.offset, e.length));
      }
      const next = sorted[ei];
      if (next && next.offset < bufEnd) {
        carry = Buffer.from(buf.subarray(Math.max(0, next.offset - bufStart)));
        carryStart = Math.max(next.offset, bufStart);
      } else carry = Buffer.alloc(0);
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

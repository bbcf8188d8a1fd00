// Pack file format 1 (docs/ARCHITECTURE.md): magic, blob bytes, a table of
// (type, id, offset, length) and a footer that checksums the table.
import fs from 'node:fs';
import { blake3 } from './hash.js';
import { CorruptionError } from './errors.js';

export const PACK_MAGIC = Buffer.from('DVPACK01');
export const PACK_END = Buffer.from('DVPKEND1');
export const ENTRY_BYTES = 45;
export const FOOTER_BYTES = 48;

export enum BlobType {
  Chunk = 1,
  Tree = 2,
  Commit = 3,
  RunRecord = 4,
  RunCache = 5,
  Log = 6,
  ChunkList = 7,
  /** A bucket of pipeline datum states (src/pipeline/state.ts). */
  RunState = 8,
}

export interface PackEntry {
  type: BlobType;
  id: Buffer;
  offset: number;
  length: number;
}

/** Writes `e` as the table record at byte `p` of `buf`: type (1), id (32), offset (u64 LE), length (u32 LE). */
export function writeEntry(buf: Buffer, p: number, e: PackEntry): void {
  buf[p] = e.type;
  e.id.copy(buf, p + 1, 0, 32);
  buf.writeBigUInt64LE(BigInt(e.offset), p + 33);
  buf.writeUInt32LE(e.length, p + 41);
}

/** The table record at byte `p` of `buf` (its id copied out). */
export function readEntry(buf: Buffer, p: number): PackEntry {
  return {
    type: buf[p] as BlobType,
    id: Buffer.from(buf.subarray(p + 1, p + 33)),
    offset: Number(buf.readBigUInt64LE(p + 33)),
    length: buf.readUInt32LE(p + 41),
  };
}

export function encodeTable(entries: PackEntry[]): Buffer {
  const rows = Buffer.alloc(entries.length * ENTRY_BYTES);
  entries.forEach((e, i) => writeEntry(rows, i * ENTRY_BYTES, e));
  return tableWithFooter(rows);
}

/** The table of records already in the layout above (pack-table.ts), with its footer. */
export function tableWithFooter(rows: Buffer): Buffer {
  const p = rows.length;
  const table = Buffer.alloc(p + FOOTER_BYTES);
  rows.copy(table);
  table.writeUInt32LE(p / ENTRY_BYTES, p);
  table.writeUInt32LE(p, p + 4);
  blake3(table.subarray(0, p)).copy(table, p + 8);
  PACK_END.copy(table, p + 40);
  return table;
}

/** Parses the footer and table from the tail of a pack; `readAt` abstracts local
 * files and ranged GETs against a remote. */
export async function readTable(
  name: string,
  size: number,
  readAt: (offset: number, length: number) => Promise<Buffer> | Buffer,
): Promise<PackEntry[]> {
  if (size < PACK_MAGIC.length + FOOTER_BYTES) throw new CorruptionError(`pack ${name} is truncated (${size} bytes)`);
  const footer = await readAt(size - FOOTER_BYTES, FOOTER_BYTES);
  if (footer.length !== FOOTER_BYTES || !footer.subarray(40).equals(PACK_END)) {
    throw new CorruptionError(`pack ${name} is truncated or not a dv pack (bad footer)`);
  }
  const count = footer.readUInt32LE(0);
  const tableLen = footer.readUInt32LE(4);
  if (tableLen !== count * ENTRY_BYTES || tableLen > size - FOOTER_BYTES - PACK_MAGIC.length) {
    throw new CorruptionError(`pack ${name} has an inconsistent table`);
  }
  const table = await readAt(size - FOOTER_BYTES - tableLen, tableLen);
  if (!blake3(table).equals(footer.subarray(8, 40))) throw new CorruptionError(`pack ${name} table checksum mismatch`);
  const dataEnd = size - FOOTER_BYTES - tableLen;
  const entries: PackEntry[] = [];
  for (let p = 0; p < tableLen; p += ENTRY_BYTES) {
    const e = readEntry(table, p);
    if (e.offset < PACK_MAGIC.length || e.offset + e.length > dataEnd) {
      throw new CorruptionError(`pack ${name} has an entry outside its data`);
    }
    entries.push(e);
  }
  return entries;
}

export async function readTableFromFile(path: string, name: string): Promise<PackEntry[]> {
  const fd = fs.openSync(path, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    return await readTable(name, size, (offset, length) => {
      const buf = Buffer.alloc(length);
      const n = fs.readSync(fd, buf, 0, length, offset);
      return buf.subarray(0, n);
    });
  } finally {
    fs.closeSync(fd);
  }
}

// The stat cache's binary record (see statcache.ts): its encoding (magic "DVSI", a row
// count, then per row: path length u16, UTF-8 path, size, mtime, inode as f64, mode u32,
// the 32-byte hash; rows in `.sort()` order of their paths), a loaded record's index
// (row offsets and a hash table of them, so no object is built per row), splicing
// changed rows into a loaded record, and a compact builder of a whole new record.
import { partitionPoint } from '../store/sorted.js';
import type { WsFile } from './scan.js';
import { SEGMENT_ROWS } from './stat-segments.js';

/** A row: [size, mtime, ino, mode, hash]. */
export type StatRow = [number, number, number, number, string];

/** Coarser than any common filesystem's timestamp granularity except FAT's. */
export const RACY_MS = 1000;
/** The mtime of a smudged row (see recordAll): no file has it. */
export const SMUDGED = -1;

const INDEX_MAGIC = 0x44565349; // "DVSI"
/** A row: u16 path length, path (UTF-8), then size, mtime, ino (f64), mode (u32), hash (32 bytes). */
const ROW_FIXED = 60;

/** The loaded record: row i starts at starts[i] (starts[n] is the end of the last row),
 * rows in `.sort()` order of their paths, and a hash table of row numbers by path. */
export class Record {
  readonly n: number;
  private table: Int32Array | null = null;
  /** Lookups so far: the first few binary-search the sorted rows instead of building the
   * hash table, so a status probing one chunk's files does not index 1,000,000 rows. */
  private finds = 0;

  constructor(readonly raw: Buffer, readonly starts: Int32Array) {
    this.n = starts.length - 1;
  }

  path(i: number): string {
    const s = this.starts[i]!;
    return this.raw.toString('utf8', s + 2, s + 2 + this.raw.readUInt16LE(s));
  }

  row(i: number): StatRow {
    const { raw } = this;
    const o = this.starts[i]! + 2 + raw.readUInt16LE(this.starts[i]!);
    return [raw.readDoubleLE(o), raw.readDoubleLE(o + 8), raw.readDoubleLE(o + 16), raw.readUInt32LE(o + 24), raw.toString('hex', o + 28, o + 60)];
  }

  /** The size recorded in row i. */
  size(i: number): number {
    return this.raw.readDoubleLE(this.starts[i]! + 2 + this.raw.readUInt16LE(this.starts[i]!));
  }

  /** Whether row i holds this stat (read in place: no row is decoded). */
  sameStat(i: number, f: WsFile): boolean {
    const { raw } = this;
    const o = this.starts[i]! + 2 + raw.readUInt16LE(this.starts[i]!);
    return raw.readDoubleLE(o) === f.size && raw.readDoubleLE(o + 8) === f.mtime && raw.readDoubleLE(o + 16) === f.ino && raw.readUInt32LE(o + 24) === f.mode;
  }

  /** The row number of `path`, or -1. */
  find(path: string): number {
    if (!this.table && this.finds++ < 4096) {
      const i = this.lowerBound(path, 0);
      return i < this.n && this.path(i) === path ? i : -1;
    }
    const t = this.table ??= this.buildTable();
    const ascii = isAscii(path);
    const bytes = ascii ? null : Buffer.from(path, 'utf8');
    const mask = t.length - 1;
    for (let slot = (ascii ? hashString(path) : hashBytes(bytes!, 0, bytes!.length)) & mask; ; slot = (slot + 1) & mask) {
      const v = t[slot]!;
      if (v === 0) return -1;
      if (this.nameIs(v - 1, path, bytes)) return v - 1;
    }
  }

  private nameIs(i: number, path: string, bytes: Buffer | null): boolean {
    const s = this.starts[i]!;
    const len = this.raw.readUInt16LE(s);
    if (bytes) return len === bytes.length && this.raw.compare(bytes, 0, len, s + 2, s + 2 + len) === 0;
    if (len !== path.length) return false;
    for (let k = 0; k < len; k++) if (this.raw[s + 2 + k] !== path.charCodeAt(k)) return false;
    return true;
  }

  private buildTable(): Int32Array {
    let size = 16;
    while (size < this.n * 2) size *= 2;
    const t = new Int32Array(size);
    const mask = size - 1;
    for (let i = 0; i < this.n; i++) {
      const s = this.starts[i]!;
      let slot = hashBytes(this.raw, s + 2, s + 2 + this.raw.readUInt16LE(s)) & mask;
      while (t[slot] !== 0) slot = (slot + 1) & mask;
      t[slot] = i + 1;
    }
    return t;
  }

  /** The first row whose path sorts at or after `path`, from row `from` on. */
  lowerBound(path: string, from: number): number {
    return partitionPoint(from, this.n, (i) => this.path(i) < path);
  }
}

function isAscii(s: string): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) >= 0x80) return false;
  return true;
}

/** FNV-1a over UTF-8 bytes; hashString gives the same for an ASCII string. */
function hashBytes(b: Buffer, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let k = from; k < to; k++) h = Math.imul(h ^ b[k]!, 0x01000193);
  return h >>> 0;
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x01000193);
  return h >>> 0;
}

/** Rows for a whole new record (the first add), one per file of a scan and in its order,
 * compactly: the paths and stat fields are read from the scan's own buffers (its
 * '\0'-separated path bytes, native-scan.ts pathBytes, and its numbers), so a row adds
 * only its hash, a racy flag and where its path ends (37 bytes; no string or object per
 * row). Racy files are smudged (see StatCache.recordAll). */
export class StatRows {
  /** Row i's path is names[ends[i - 1] + 1 (0 for the first), ends[i]). */
  private ends: Uint32Array;
  private hashes: Buffer;
  private racy: Uint8Array;
  private n = 0;
  smudged = 0;

  constructor(private names: Buffer, private nums: Float64Array, count: number, private now = Date.now()) {
    this.ends = new Uint32Array(count);
    this.hashes = Buffer.alloc(count * 32);
    this.racy = new Uint8Array(count);
  }

  get length(): number {
    return this.n;
  }

  /** Adds the next scan file's row: `f` must be that file (its path is checked to end where the scan's does). */
  add(f: WsFile, hash: string): void {
    const i = this.n;
    if (i >= this.ends.length) throw new Error(`stat row ${i}: the scan has ${this.ends.length} files`);
    const at = this.start(i);
    const end = at + Buffer.byteLength(f.path, 'utf8');
    if (end !== this.names.length && this.names[end] !== 0) throw new Error(`stat row ${i} is not the scan's file ${f.path}`);
    this.ends[i] = end;
    if (this.now - f.mtime < RACY_MS) { this.racy[i] = 1; this.smudged++; }
    this.hashes.write(hash, i * 32, 32, 'hex');
    this.n++;
  }

  private start(i: number): number {
    return i ? this.ends[i - 1]! + 1 : 0;
  }

  /** Row i's path. */
  path(i: number): string {
    return this.names.toString('utf8', this.start(i), this.ends[i]!);
  }

  /** Size, mode and hash of row i. */
  content(i: number): { size: number; mode: number; hash: string } {
    return { size: this.nums[i * 4]!, mode: this.nums[i * 4 + 3]!, hash: this.hashes.toString('hex', i * 32, i * 32 + 32) };
  }

  /** Row numbers in `.sort()` order of their paths (a walk's order is nearly that already). */
  sorted(): Int32Array {
    const order = new Int32Array(this.n);
    let inOrder = true;
    let prev = '';
    for (let i = 0; i < order.length; i++) {
      order[i] = i;
      const p = this.path(i);
      if (i > 0 && !(prev < p)) inOrder = false;
      prev = p;
    }
    if (inOrder) return order;
    const paths = Array.from(order, (i) => this.path(i)); // only when out of order: a string per row, for the sort
    return order.sort((a, b) => (paths[a]! < paths[b]! ? -1 : 1));
  }

  /** The record of these rows cut into segments of SEGMENT_ROWS rows (stat-segments.ts),
   * each encoded on its own: no buffer of the whole record is built. */
  segments(): { first: string; data: Buffer }[] {
    return [...this.eachSegment()];
  }

  /** The segments one at a time: each can be written and dropped before the next. */
  *eachSegment(): Generator<{ first: string; data: Buffer }> {
    const order = this.sorted();
    for (let from = 0; from < order.length; from += SEGMENT_ROWS) {
      const part = order.subarray(from, from + SEGMENT_ROWS);
      let total = 8;
      for (const i of part) total += 2 + this.ends[i]! - this.start(i) + ROW_FIXED;
      const raw = Buffer.allocUnsafe(total);
      raw.writeUInt32LE(INDEX_MAGIC, 0);
      raw.writeUInt32LE(part.length, 4);
      let o = 8;
      for (const i of part) {
        const len = this.ends[i]! - this.start(i);
        raw.writeUInt16LE(len, o);
        this.names.copy(raw, o + 2, this.start(i), this.ends[i]!);
        o += 2 + len;
        raw.writeDoubleLE(this.nums[i * 4]!, o);
        raw.writeDoubleLE(this.racy[i] ? SMUDGED : this.nums[i * 4 + 1]!, o + 8);
        raw.writeDoubleLE(this.nums[i * 4 + 2]!, o + 16);
        raw.writeUInt32LE(this.nums[i * 4 + 3]!, o + 24);
        this.hashes.copy(raw, o + 28, i * 32, i * 32 + 32);
        o += ROW_FIXED;
      }
      yield { first: from === 0 ? '' : this.path(part[0]!), data: raw };
    }
  }
}

/** A record cut into records of at most `max` rows (SEGMENT_ROWS each when cut), with the
 * path of each one's first row ('' for the first); none when it has no rows. */
export function splitRecord(data: Buffer, max: number): { first: string; data: Buffer }[] {
  const starts = indexRecord(data);
  const n = starts ? starts.length - 1 : 0;
  if (!starts) return data.length > 8 ? [{ first: '', data }] : []; // kept as it is: its rows get re-read, not lost
  if (n === 0) return [];
  const pathAt = (i: number): string => data.toString('utf8', starts[i]! + 2, starts[i]! + 2 + data.readUInt16LE(starts[i]!));
  if (n <= max) return [{ first: pathAt(0), data }];
  const out: { first: string; data: Buffer }[] = [];
  for (let from = 0; from < n; from += SEGMENT_ROWS) {
    const to = Math.min(n, from + SEGMENT_ROWS);
    const head = Buffer.allocUnsafe(8);
    head.writeUInt32LE(INDEX_MAGIC, 0);
    head.writeUInt32LE(to - from, 4);
    out.push({ first: pathAt(from), data: Buffer.concat([head, data.subarray(starts[from], starts[to])]) });
  }
  return out;
}

/** Row starts of a well-formed record whose paths are strictly in `.sort()` order, else null. */
export function indexRecord(buf: Buffer): Int32Array | null {
  if (buf.length < 8 || buf.readUInt32LE(0) !== INDEX_MAGIC) return buf.length ? null : new Int32Array(1);
  const n = buf.readUInt32LE(4);
  const starts = new Int32Array(n + 1);
  let o = 8;
  for (let i = 0; i < n; i++) {
    if (o + 2 > buf.length) return null;
    const len = buf.readUInt16LE(o);
    if (o + 2 + len + ROW_FIXED > buf.length) return null;
    // Not so if the record is damaged, or if a path was not valid UTF-16 (lone
    // surrogates come back as U+FFFD).
    if (i > 0 && !before(buf, starts[i - 1]!, o)) return null;
    starts[i] = o;
    o += 2 + len + ROW_FIXED;
  }
  starts[n] = o;
  return starts;
}

/** Whether the path of the row at `a` sorts strictly before that of the row at `b`, as
 * `.sort()` orders them: compared in place while the bytes are ASCII (where UTF-8 order
 * is UTF-16 order), decoded only past a non-ASCII byte. No string per row. */
function before(buf: Buffer, a: number, b: number): boolean {
  const la = buf.readUInt16LE(a);
  const lb = buf.readUInt16LE(b);
  const m = Math.min(la, lb);
  for (let k = 0; k < m; k++) {
    const x = buf[a + 2 + k]!;
    const y = buf[b + 2 + k]!;
    if (x >= 0x80 || y >= 0x80) return buf.toString('utf8', a + 2, a + 2 + la) < buf.toString('utf8', b + 2, b + 2 + lb);
    if (x !== y) return x < y;
  }
  return la < lb;
}

/** Every readable row of a record that cannot be indexed (unreadable: none, files get re-read). */
export function decodeAll(buf: Buffer): Map<string, StatRow> {
  const rows = new Map<string, StatRow>();
  if (buf.length < 8 || buf.readUInt32LE(0) !== INDEX_MAGIC) return rows;
  const n = buf.readUInt32LE(4);
  let o = 8;
  for (let i = 0; i < n && o + 2 <= buf.length; i++) {
    const len = buf.readUInt16LE(o);
    if (o + 2 + len + ROW_FIXED > buf.length) break;
    const p = buf.toString('utf8', o + 2, o + 2 + len);
    o += 2 + len;
    rows.set(p, [buf.readDoubleLE(o), buf.readDoubleLE(o + 8), buf.readDoubleLE(o + 16), buf.readUInt32LE(o + 24), buf.toString('hex', o + 28, o + 60)]);
    o += ROW_FIXED;
  }
  return rows;
}

export function encodeIndex(rows: Map<string, StatRow>): Buffer {
  const paths = [...rows.keys()].sort();
  const names = paths.map((p) => Buffer.from(p, 'utf8'));
  const buf = Buffer.allocUnsafe(8 + names.reduce((s, n) => s + 2 + n.length + ROW_FIXED, 0));
  buf.writeUInt32LE(INDEX_MAGIC, 0);
  buf.writeUInt32LE(paths.length, 4);
  let o = 8;
  paths.forEach((p, i) => { o = writeRow(buf, o, names[i]!, rows.get(p)!); });
  return buf;
}

/** The full encoding of `rows`, as save() stores it. */
export function encodeStatIndex(rows: Map<string, StatRow>): Buffer {
  return encodeIndex(rows);
}

/** Writes one row at `o`; returns the offset after it. */
function writeRow(buf: Buffer, o: number, name: Buffer, [size, mtime, ino, mode, hash]: StatRow): number {
  buf.writeUInt16LE(name.length, o);
  name.copy(buf, o + 2);
  o += 2 + name.length;
  buf.writeDoubleLE(size, o);
  buf.writeDoubleLE(mtime, o + 8);
  buf.writeDoubleLE(ino, o + 16);
  buf.writeUInt32LE(mode, o + 24);
  buf.write(hash, o + 28, 32, 'hex');
  return o + ROW_FIXED;
}

/**
 * The same bytes as a full encoding, in O(touched) encoding work: the rows of the record
 * between two touched paths are copied as one range, and only the touched rows still
 * present are encoded. Sound because an untouched row's bytes are what encoding it gives,
 * and because the record's paths are in the order `.sort()` puts them (indexRecord checks).
 */
export function mergeIndex(rec: Record, overlay: Map<string, StatRow | null>, count: number): Buffer {
  const { raw, starts } = rec;
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32LE(INDEX_MAGIC, 0);
  head.writeUInt32LE(count, 4);
  const parts: Buffer[] = [head];
  let next = 0; // first row of the record not yet copied or replaced
  for (const p of [...overlay.keys()].sort()) {
    const i = rec.lowerBound(p, next);
    if (i > next) parts.push(raw.subarray(starts[next], starts[i]));
    next = i < rec.n && rec.path(i) === p ? i + 1 : i; // skip the old version of a modified or removed row
    const r = overlay.get(p);
    if (r) {
      const name = Buffer.from(p, 'utf8');
      const row = Buffer.allocUnsafe(2 + name.length + ROW_FIXED);
      writeRow(row, 0, name, r);
      parts.push(row);
    }
  }
  parts.push(raw.subarray(starts[next], starts[rec.n]));
  return Buffer.concat(parts);
}

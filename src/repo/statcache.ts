// The stat cache: path -> (size, mtime, inode, mode) -> content hash, for workspace files
// whose content is in the store (so a row also vouches that overwriting the file loses
// nothing). `mirror` records that the rows are exactly the files of one tree, which lets
// status, commit and checkout work from the rows alone (mirror-diff.ts), reading no tree.
//
// Like git's index it is one binary record, read in one go. It lives in SQLite so it
// changes in the same transaction as HEAD. The loaded record is not decoded into an
// object per row: rows are found through a hash table of row offsets (typed arrays,
// ~12 bytes a row), so 1,000,000 rows cost the record's bytes plus ~12 MB, not a
// JavaScript object each. Changes are kept in an overlay until save().
import type { DB } from '../store/db.js';
import { partitionPoint } from '../store/sorted.js';
import type { WsFile } from './scan.js';

/** A row: [size, mtime, ino, mode, hash]. */
type StatRow = [number, number, number, number, string];

/** Coarser than any common filesystem's timestamp granularity except FAT's. */
const RACY_MS = 1000;
/** The mtime of a smudged row (see recordAll): no file has it. */
const SMUDGED = -1;

const INDEX_MAGIC = 0x44565349; // "DVSI"
/** A row: u16 path length, path (UTF-8), then size, mtime, ino (f64), mode (u32), hash (32 bytes). */
const ROW_FIXED = 60;

/** The loaded record: row i starts at starts[i] (starts[n] is the end of the last row),
 * rows in `.sort()` order of their paths, and a hash table of row numbers by path. */
class Record {
  readonly n: number;
  private table: Int32Array | null = null;

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

  /** The row number of `path`, or -1. */
  find(path: string): number {
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

/** Rows for a whole new record (the first add), compactly: a path each, and the fixed
 * fields in one buffer. Racy files are smudged (see StatCache.recordAll). */
export class StatRows {
  readonly paths: string[] = [];
  private fixed: Buffer;
  smudged = 0;

  constructor(capacity: number, private now = Date.now()) {
    this.fixed = Buffer.alloc(Math.max(1, capacity) * ROW_FIXED);
  }

  get length(): number {
    return this.paths.length;
  }

  add(f: WsFile, hash: string): void {
    const o = this.paths.length * ROW_FIXED;
    if (o + ROW_FIXED > this.fixed.length) {
      const grown = Buffer.alloc(this.fixed.length * 2);
      this.fixed.copy(grown);
      this.fixed = grown;
    }
    const racy = this.now - f.mtime < RACY_MS;
    if (racy) this.smudged++;
    this.fixed.writeDoubleLE(f.size, o);
    this.fixed.writeDoubleLE(racy ? SMUDGED : f.mtime, o + 8);
    this.fixed.writeDoubleLE(f.ino, o + 16);
    this.fixed.writeUInt32LE(f.mode, o + 24);
    this.fixed.write(hash, o + 28, 32, 'hex');
    this.paths.push(f.path);
  }

  /** Size, mode and hash of row i. */
  content(i: number): { size: number; mode: number; hash: string } {
    const o = i * ROW_FIXED;
    return { size: this.fixed.readDoubleLE(o), mode: this.fixed.readUInt32LE(o + 24), hash: this.fixed.toString('hex', o + 28, o + 60) };
  }

  /** Row numbers in `.sort()` order of their paths (a walk's order is nearly that already). */
  sorted(): number[] {
    const { paths } = this;
    return Array.from({ length: paths.length }, (_, i) => i).sort((a, b) => (paths[a]! < paths[b]! ? -1 : 1));
  }

  /** The encoded record of these rows, and where each row starts. */
  encode(): { raw: Buffer; starts: Int32Array } {
    const order = this.sorted();
    let total = 8;
    for (const p of this.paths) total += 2 + Buffer.byteLength(p, 'utf8') + ROW_FIXED;
    const raw = Buffer.allocUnsafe(total);
    raw.writeUInt32LE(INDEX_MAGIC, 0);
    raw.writeUInt32LE(order.length, 4);
    const starts = new Int32Array(order.length + 1);
    let o = 8;
    order.forEach((i, k) => {
      starts[k] = o;
      const len = raw.write(this.paths[i]!, o + 2, 'utf8');
      raw.writeUInt16LE(len, o);
      this.fixed.copy(raw, o + 2 + len, i * ROW_FIXED, (i + 1) * ROW_FIXED);
      o += 2 + len + ROW_FIXED;
    });
    starts[order.length] = o;
    return { raw, starts };
  }
}

export class StatCache {
  private rec: Record | null = null;
  /** Rows recorded (a row) or forgotten (null) since load. Kept across saves: every
   * other row still equals its bytes in the record, so each save copies those. */
  private overlay = new Map<string, StatRow | null>();
  private count = 0;
  private mirror = '';
  private fingerprint = '';
  private dirty = false;

  constructor(private db: DB) {}

  private load(): Record {
    if (!this.rec) {
      const row = this.db.prepare('SELECT mirror, fingerprint, data FROM workspace_index WHERE id = 1').get() as
        { mirror: string; fingerprint: string; data: Buffer } | undefined;
      const raw = row?.data ?? Buffer.alloc(0);
      const starts = indexRecord(raw);
      if (starts) this.rec = new Record(raw, starts);
      else {
        // Damaged, or not in `.sort()` order (a path that was not valid UTF-16): every
        // row goes to the overlay, and the next save encodes them all.
        this.rec = new Record(Buffer.alloc(0), new Int32Array(1));
        for (const [p, r] of decodeAll(raw)) this.overlay.set(p, r);
      }
      this.count = this.rec.n + this.overlay.size;
      this.mirror = row?.mirror ?? '';
      this.fingerprint = row?.fingerprint ?? '';
    }
    return this.rec;
  }

  private get(path: string): StatRow | undefined {
    const rec = this.load();
    const o = this.overlay.get(path);
    if (o !== undefined) return o ?? undefined;
    const i = rec.find(path);
    return i < 0 ? undefined : rec.row(i);
  }

  /** Number of rows, read without the record when it is not loaded yet. */
  get size(): number {
    return this.rec ? this.count : this.peek().files;
  }

  /** The mirror mark alone, without the record: enough for the no-op fast path. */
  peek(): { mirror: string; fingerprint: string; files: number } {
    if (this.rec) return { mirror: this.mirror, fingerprint: this.fingerprint, files: this.count };
    const row = this.db.prepare('SELECT mirror, fingerprint, files FROM workspace_index WHERE id = 1').get() as
      { mirror: string; fingerprint: string; files: number } | undefined;
    return row ?? { mirror: '', fingerprint: '', files: 0 };
  }

  /** True when the workspace scan is exactly the one recorded as mirroring `tree`. */
  unchangedSince(tree: string, scan: { fingerprint(): string }): boolean {
    const p = this.peek();
    return p.mirror === tree && p.fingerprint !== '' && p.fingerprint === scan.fingerprint();
  }

  /** Remembers the scan of a workspace that mirrors the rows' tree (call after mirrorIfComplete). */
  rememberScan(scan: { fingerprint(): string }): void {
    this.load();
    if (this.mirror === '') return;
    const fp = scan.fingerprint();
    if (fp !== this.fingerprint) { this.fingerprint = fp; this.dirty = true; }
  }

  /** 1: `f` has a row and is unchanged since; 0: it has a row but changed; -1: no row. */
  probe(f: WsFile): number {
    const r = this.get(f.path);
    if (r === undefined) return -1;
    return r[0] === f.size && r[1] === f.mtime && r[2] === f.ino && r[3] === f.mode ? 1 : 0;
  }

  /** Whether `f` is unchanged since it was recorded. */
  isFresh(f: WsFile): boolean {
    return this.probe(f) === 1;
  }

  /** The content hash of `f` if the file is unchanged since it was recorded. */
  hashOf(f: WsFile): string | null {
    const r = this.get(f.path);
    return r && r[0] === f.size && r[1] === f.mtime && r[2] === f.ino && r[3] === f.mode ? r[4] : null;
  }

  /** The recorded hash and mode of `path`, whatever its stat now. */
  recorded(path: string): { hash: string; mode: number } | undefined {
    const r = this.get(path);
    return r && { hash: r[4], mode: r[3] };
  }

  /** Every row's path and hash, in no particular order. */
  *entries(): Generator<[string, string]> {
    const rec = this.load();
    for (let i = 0; i < rec.n; i++) {
      const p = rec.path(i);
      if (!this.overlay.has(p)) yield [p, rec.row(i)[4]];
    }
    for (const [p, r] of this.overlay) if (r) yield [p, r[4]];
  }

  /** Paths of all rows. */
  *paths(): Generator<string> {
    for (const [p] of this.entries()) yield p;
  }

  /**
   * Records that each file holds stored content with `hash`. A file modified within the
   * same mtime tick as it was read would look unchanged later ("racy" entries, as in
   * git), so files modified less than RACY_MS before now are not recorded; returns how many.
   */
  record(rows: { file: WsFile; hash: string }[], now = Date.now()): number {
    let skipped = 0;
    for (const { file: f, hash } of rows) {
      if (now - f.mtime < RACY_MS) skipped++;
      else this.put(f, f.mtime, hash);
    }
    return skipped;
  }

  /**
   * Records every row, keeping the mirror of a tree whose files these are (a commit's or
   * a checkout's). A racy file is recorded with a smudged mtime, as git smudges racily
   * clean index entries: its hash is kept but it never counts as unchanged, so the next
   * status reads it again. Returns how many rows were smudged.
   */
  recordAll(rows: { file: WsFile; hash: string }[], now = Date.now()): number {
    let smudged = 0;
    for (const { file: f, hash } of rows) {
      const racy = now - f.mtime < RACY_MS;
      if (racy) smudged++;
      this.put(f, racy ? SMUDGED : f.mtime, hash);
    }
    return smudged;
  }

  /** A row whose hash and mode stay as they were leaves the mirror standing. */
  private put(f: WsFile, mtime: number, hash: string): void {
    const old = this.get(f.path);
    const same = old !== undefined && old[3] === f.mode && old[4] === hash;
    if (old === undefined) this.count++;
    this.overlay.set(f.path, [f.size, mtime, f.ino, f.mode, hash]);
    if (same) { this.dirty = true; this.fingerprint = ''; } else this.changed();
  }

  forget(paths: Iterable<string>): void {
    for (const p of paths) {
      if (this.get(p) === undefined) continue;
      this.overlay.set(p, null);
      this.count--;
      this.changed();
    }
  }

  /** Drops every row not in `keep` (files no longer in the workspace or no longer stored). */
  retainOnly(keep: (path: string, hash: string) => boolean): void {
    this.forget([...this.entries()].filter(([p, hash]) => !keep(p, hash)).map(([p]) => p));
  }

  /** Replaces every row with `rows` (a first add's files); call setMirror after. */
  replaceAll(rows: StatRows): void {
    this.load();
    const { raw, starts } = rows.encode();
    this.rec = new Record(raw, starts);
    this.overlay.clear();
    this.count = rows.length;
    this.changed();
  }

  /** Marks the rows as exactly the files of `tree` if they are; clears the mark otherwise. */
  mirrorIfComplete(tree: string, files: Map<string, { hash: string; mode: number }>): void {
    this.load();
    const complete = this.count === files.size && [...files].every(([p, e]) => {
      const r = this.get(p);
      return r !== undefined && r[3] === e.mode && r[4] === e.hash;
    });
    const mirror = complete ? tree : '';
    if (mirror !== this.mirror) { this.mirror = mirror; this.fingerprint = ''; this.dirty = true; }
  }

  /** Whether the rows are exactly the files of `tree` (read without the record). */
  mirrors(tree: string): boolean {
    return this.peek().mirror === tree;
  }

  /** Marks the rows as exactly the files of `tree`: the caller knows they are (it applied
   * a tree's changes to the rows of its parent, which mirrored that parent). */
  setMirror(tree: string): void {
    this.load();
    if (this.mirror !== tree) { this.mirror = tree; this.fingerprint = ''; this.dirty = true; }
  }

  private changed(): void {
    this.dirty = true;
    this.mirror = '';
    this.fingerprint = '';
  }

  /** Writes pending changes; call inside the transaction that moves HEAD. */
  save(): void {
    if (!this.dirty) return;
    const rec = this.load();
    // A pipeline run touches a handful of rows out of many thousands: splice those into
    // the loaded record. Past ~1/8 touched, encoding everything costs about the same.
    const data = rec.n > 0 && this.overlay.size === 0 ? rec.raw
      : rec.n > 0 && this.overlay.size <= rec.n / 8 ? mergeIndex(rec, this.overlay, this.count) : encodeIndex(this.allRows());
    this.db.prepare('INSERT INTO workspace_index (id, mirror, fingerprint, files, data) VALUES (1, ?, ?, ?, ?) ' +
      'ON CONFLICT(id) DO UPDATE SET mirror = excluded.mirror, fingerprint = excluded.fingerprint, files = excluded.files, data = excluded.data')
      .run(this.mirror, this.fingerprint, this.count, data);
    this.dirty = false;
  }

  private allRows(): Map<string, StatRow> {
    const rec = this.load();
    const rows = new Map<string, StatRow>();
    for (let i = 0; i < rec.n; i++) {
      const p = rec.path(i);
      if (!this.overlay.has(p)) rows.set(p, rec.row(i));
    }
    for (const [p, r] of this.overlay) if (r) rows.set(p, r);
    return rows;
  }
}

/** Row starts of a well-formed record whose paths are strictly in `.sort()` order, else null. */
function indexRecord(buf: Buffer): Int32Array | null {
  if (buf.length < 8 || buf.readUInt32LE(0) !== INDEX_MAGIC) return buf.length ? null : new Int32Array(1);
  const n = buf.readUInt32LE(4);
  const starts = new Int32Array(n + 1);
  let prev = '';
  let o = 8;
  for (let i = 0; i < n; i++) {
    if (o + 2 > buf.length) return null;
    const len = buf.readUInt16LE(o);
    if (o + 2 + len + ROW_FIXED > buf.length) return null;
    const p = buf.toString('utf8', o + 2, o + 2 + len);
    // Not so if the record is damaged, or if a path was not valid UTF-16 (lone
    // surrogates come back as U+FFFD).
    if (i > 0 && !(prev < p)) return null;
    prev = p;
    starts[i] = o;
    o += 2 + len + ROW_FIXED;
  }
  starts[n] = o;
  return starts;
}

/** Every readable row of a record that cannot be indexed (unreadable: none, files get re-read). */
function decodeAll(buf: Buffer): Map<string, StatRow> {
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

function encodeIndex(rows: Map<string, StatRow>): Buffer {
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
function mergeIndex(rec: Record, overlay: Map<string, StatRow | null>, count: number): Buffer {
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

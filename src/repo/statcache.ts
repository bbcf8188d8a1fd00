// The stat cache: path -> (size, mtime, inode, mode) -> content hash, for workspace files
// whose content is in the store (so a row also vouches that overwriting the file loses
// nothing). `mirror` records that the rows are exactly the files of one tree, which lets
// status, commit and checkout work from the rows alone (mirror-diff.ts), reading no tree.
//
// Like git's index it is a binary record, but stored in sorted segments of ~2,048 rows
// (stat-segments.ts), each read only when a lookup needs it and rewritten only when its
// rows change. It lives in SQLite so it changes in the same transaction as HEAD: the
// segments in workspace_segs, the small columns (mirror, scan fingerprint, chunk
// fingerprints) in workspace_index, so those are read and rewritten without any row. Chunk fingerprints (scan-chunks.ts) vouch
// that every file of a chunk of the scan has a fresh row: a status after one change
// probes only that file's chunk. Any change to the rows drops them; callers that know
// which chunks still hold set them again (setChunks). A loaded segment is not decoded into an
// object per row: rows are found by binary search (then a hash table of row offsets)
// in its bytes. Changes are kept in an overlay until save().
import type { DB } from '../store/db.js';
import type { WsFile } from './scan.js';
import { ops } from './opcount.js';
import { decodeChunks, encodeChunks } from './scan-chunks.js';
import { decodeAll, indexRecord, mergeIndex, RACY_MS, Record, SMUDGED, splitRecord, type StatRow, type StatRows } from './stat-record.js';
import { deleteAllSegments, deleteSegment, readDirectory, readSegment, SEGMENT_MAX_ROWS, segmentOf, writeSegment, type SegmentRef } from './stat-segments.js';

export { encodeStatIndex, StatRows } from './stat-record.js';

export class StatCache {
  /** The segments (null: not read yet), each with its record once loaded. */
  private segs: (SegmentRef & { rec?: Record })[] | null = null;
  /** Rows recorded (a row) or forgotten (null) since load or save. */
  private overlay = new Map<string, StatRow | null>();
  /** Set by replaceAll: the whole new record, its segments encoded one at a time as the
   * next save writes them (a lookup before that builds them all in memory). */
  private replaced: StatRows | null = null;
  /** Segments that did not read back (damaged): rewritten by the next save. */
  private damaged = new Set<number>();
  private count = 0;
  private mirror = '';
  private fingerprint = '';
  /** Chunk fingerprint -> files, once read (null: not read yet). */
  private chunks: Map<string, number> | null = null;
  /** The small columns changed since load or save. */
  private dirty = false;
  /** The rows changed since load or save. */
  private rowsDirty = false;
  private metaRead = false;

  constructor(private db: DB) {}

  /** The small columns, read once without the record. */
  private loadMeta(): void {
    if (this.metaRead) return;
    const row = this.db.prepare('SELECT mirror, fingerprint, files, chunks FROM workspace_index WHERE id = 1').get() as
      { mirror: string; fingerprint: string; files: number; chunks: Buffer } | undefined;
    this.mirror = row?.mirror ?? '';
    this.fingerprint = row?.fingerprint ?? '';
    this.count = row?.files ?? 0;
    this.chunks = decodeChunks(row?.chunks);
    this.metaRead = true;
  }

  private directory(): (SegmentRef & { rec?: Record })[] {
    this.loadMeta();
    if (!this.segs && this.replaced) {
      this.segs = this.replaced.segments().map((seg) => ({ seq: 0, first: seg.first, rec: new Record(seg.data, indexRecord(seg.data)!) }));
      if (!this.segs.length) this.segs = [{ seq: 0, first: '' }];
    }
    return (this.segs ??= readDirectory(this.db));
  }

  /** Segment k's record, read on first need. */
  private segment(k: number): Record {
    const s = this.directory()[k]!;
    if (s.rec) return s.rec;
    const raw = readSegment(this.db, s.seq);
    const starts = indexRecord(raw);
    if (starts) ops.rowsLoaded += starts.length - 1;
    if (starts) s.rec = new Record(raw, starts);
    else {
      // Damaged, or not in `.sort()` order (a path that was not valid UTF-16): its rows
      // go to the overlay, and the next save encodes them.
      s.rec = new Record(Buffer.alloc(0), new Int32Array(1));
      for (const [p, r] of decodeAll(raw)) if (!this.overlay.has(p)) this.overlay.set(p, r);
      this.damaged.add(k);
      this.rowsDirty = true;
    }
    return s.rec;
  }

  /** The record and row number of `path` in it (-1: none). */
  private locate(path: string): { rec: Record; i: number } {
    const rec = this.segment(segmentOf(this.directory(), path));
    return { rec, i: rec.find(path) };
  }

  private get(path: string): StatRow | undefined {
    const o = this.overlay.get(path);
    if (o !== undefined) return o ?? undefined;
    const { rec, i } = this.locate(path);
    if (this.overlay.has(path)) return this.overlay.get(path) ?? undefined; // a damaged segment's row
    return i < 0 ? undefined : rec.row(i);
  }

  /** Number of rows, read without the record when it is not loaded yet. */
  get size(): number {
    return this.peek().files;
  }

  /** The mirror mark alone, without the record: enough for the no-op fast path. */
  peek(): { mirror: string; fingerprint: string; files: number } {
    this.loadMeta();
    return { mirror: this.mirror, fingerprint: this.fingerprint, files: this.count };
  }

  /** Fingerprints of the scan chunks whose files all have fresh rows, with their file counts. */
  chunkMarks(): Map<string, number> {
    this.loadMeta();
    return this.chunks!;
  }

  /** Remembers chunks whose every file has a fresh row now (see mirror-diff.ts). */
  setChunks(marks: Map<string, number>): void {
    const old = this.chunkMarks();
    if (old.size === marks.size && [...marks].every(([id, n]) => old.get(id) === n)) return;
    this.chunks = marks;
    this.dirty = true;
  }

  private dropChunks(): void {
    if (this.chunkMarks().size) { this.chunks = new Map(); this.dirty = true; }
  }

  /** True when the workspace scan is exactly the one recorded as mirroring `tree`. */
  unchangedSince(tree: string, scan: { fingerprint(): string }): boolean {
    const p = this.peek();
    return p.mirror === tree && p.fingerprint !== '' && p.fingerprint === scan.fingerprint();
  }

  /** Remembers the scan of a workspace that mirrors the rows' tree (call after mirrorIfComplete). */
  rememberScan(scan: { fingerprint(): string }): void {
    this.loadMeta();
    if (this.mirror === '') return;
    const fp = scan.fingerprint();
    if (fp !== this.fingerprint) { this.fingerprint = fp; this.dirty = true; }
  }

  /** 1: `f` has a row and is unchanged since; 0: it has a row but changed; -1: no row. */
  probe(f: WsFile): number {
    if (!this.overlay.has(f.path)) {
      const { rec, i } = this.locate(f.path);
      if (!this.overlay.has(f.path)) return i < 0 ? -1 : rec.sameStat(i, f) ? 1 : 0;
    }
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
    for (const rec of this.records()) {
      for (let i = 0; i < rec.n; i++) {
        const p = rec.path(i);
        if (!this.overlay.has(p)) yield [p, rec.row(i)[4]];
      }
    }
    for (const [p, r] of this.overlay) if (r) yield [p, r[4]];
  }

  /** The sum of the rows' sizes (the bytes of the mirrored tree), no string per row. */
  totalBytes(): number {
    let sum = 0;
    for (const rec of this.records()) for (let i = 0; i < rec.n; i++) sum += rec.size(i);
    for (const [p, r] of [...this.overlay]) {
      const { rec, i } = this.locate(p);
      if (i >= 0) sum -= rec.size(i);
      if (r) sum += r[0];
    }
    return sum;
  }

  /** Every segment's record, each read as the walk reaches it (a damaged one's rows are
   * in the overlay once read). */
  private *records(): Generator<Record> {
    const dir = this.directory();
    for (let k = 0; k < dir.length; k++) yield this.segment(k);
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
    this.rowsDirty = true;
    this.dropChunks();
    if (same) { this.dirty = true; this.fingerprint = ''; } else this.changed();
  }

  forget(paths: Iterable<string>): void {
    for (const p of paths) {
      if (this.get(p) === undefined) continue;
      this.overlay.set(p, null);
      this.count--;
      this.rowsDirty = true;
      this.dropChunks();
      this.changed();
    }
  }

  /** Drops every row not in `keep` (files no longer in the workspace or no longer stored). */
  retainOnly(keep: (path: string, hash: string) => boolean): void {
    this.forget([...this.entries()].filter(([p, hash]) => !keep(p, hash)).map(([p]) => p));
  }

  /** Replaces every row with `rows` (a first add's files); call setMirror after. */
  replaceAll(rows: StatRows): void {
    this.loadMeta();
    this.replaced = rows;
    this.segs = null;
    this.damaged.clear();
    this.overlay.clear();
    this.count = rows.length;
    this.rowsDirty = true;
    this.dropChunks();
    this.changed();
  }

  /** Marks the rows as exactly the files of `tree` if they are; clears the mark otherwise. */
  mirrorIfComplete(tree: string, files: Map<string, { hash: string; mode: number }>): void {
    this.loadMeta();
    const complete = this.count === files.size && [...files].every(([p, e]) => {
      const r = this.get(p);
      return r !== undefined && r[3] === e.mode && r[4] === e.hash;
    });
    const mirror = complete ? tree : '';
    if (mirror !== this.mirror) { this.mirror = mirror; this.fingerprint = ''; this.dirty = true; this.dropChunks(); }
  }

  /** Whether the rows are exactly the files of `tree` (read without the record). */
  mirrors(tree: string): boolean {
    return this.peek().mirror === tree;
  }

  /** Marks the rows as exactly the files of `tree`: the caller knows they are (it applied
   * a tree's changes to the rows of its parent, which mirrored that parent). */
  setMirror(tree: string): void {
    this.loadMeta();
    if (this.mirror !== tree) { this.mirror = tree; this.fingerprint = ''; this.dirty = true; }
  }

  private changed(): void {
    this.dirty = true;
    this.mirror = '';
    this.fingerprint = '';
  }

  /** Writes pending changes; call inside the transaction that moves HEAD. */
  save(): void {
    if (!this.dirty && !this.rowsDirty) return;
    this.loadMeta();
    if (this.rowsDirty) this.saveRows();
    this.db.prepare('INSERT INTO workspace_index (id, mirror, fingerprint, files, chunks) VALUES (1, ?, ?, ?, ?) ' +
      'ON CONFLICT(id) DO UPDATE SET mirror = excluded.mirror, fingerprint = excluded.fingerprint, files = excluded.files, chunks = excluded.chunks')
      .run(this.mirror, this.fingerprint, this.count, encodeChunks(this.chunkMarks()));
    this.dirty = false;
    this.rowsDirty = false;
  }

  /**
   * Rewrites the segments whose rows changed: each one's untouched rows are copied as
   * byte ranges and only the touched rows encoded (mergeIndex); one grown past
   * SEGMENT_MAX_ROWS is split, one left empty is deleted. The other segments are not read.
   */
  private saveRows(): void {
    if (this.replaced) {
      deleteAllSegments(this.db);
      const built = this.segs?.filter((seg) => seg.rec).map((seg) => ({ first: seg.first, data: seg.rec!.raw }));
      for (const seg of built ?? this.replaced.eachSegment()) {
        ops.rowsSaved += seg.data.readUInt32LE(4);
        writeSegment(this.db, 0, seg.first, seg.data);
      }
      this.replaced = null;
      this.segs = null;
    }
    const dir = this.directory();
    const touched = new Map<number, Map<string, StatRow | null>>();
    for (const k of this.damaged) touched.set(k, new Map());
    for (const [p, r] of this.overlay) {
      const k = segmentOf(dir, p);
      if (!touched.has(k)) touched.set(k, new Map());
      touched.get(k)!.set(p, r);
    }
    for (const [k, changes] of touched) {
      const seg = dir[k]!;
      const rec = this.segment(k);
      let n = rec.n;
      for (const [p, r] of changes) {
        const had = rec.find(p) >= 0;
        if (had && !r) n--;
        else if (!had && r) n++;
      }
      const pieces = splitRecord(mergeIndex(rec, changes, n), SEGMENT_MAX_ROWS);
      if (!pieces.length) deleteSegment(this.db, seg.seq); // readDirectory stands in for a missing first one
      for (const piece of pieces) ops.rowsSaved += piece.data.readUInt32LE(4);
      pieces.forEach((piece, j) => writeSegment(this.db, j === 0 ? seg.seq : 0, j === 0 ? seg.first : piece.first, piece.data));
    }
    // What is stored is now the truth: the next lookups read it again.
    this.overlay.clear();
    this.damaged.clear();
    this.segs = null;
  }
}

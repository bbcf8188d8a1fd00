// Storage of the stat cache's record in sorted segments (repo migration 5): table
// workspace_segs(seq, first, data), each `data` a record of its own (stat-record.ts
// encoding) holding the rows whose paths sort at or after `first` and before the next
// segment's `first`; the first segment's `first` is ''. A command that looks up one
// file reads one segment of ~512 rows, and a save rewrites only the segments it
// touched, so a commit of one change among 1,000,000 files reads and writes ~50 KB,
// not the whole ~84 MB record (which, read, spliced and bound to SQLite, was copied
// three times at the peak). Segments of another size (2,048 rows before) read the same;
// one past the maximum is split when a save touches it.
import { prepared, type DB } from '../store/db.js';
import { partitionPoint } from '../store/sorted.js';

/** Rows a segment is cut to when written whole (a first add) or split. */
export const SEGMENT_ROWS = 512;
/** A segment that grows past this many rows is split when saved. */
export const SEGMENT_MAX_ROWS = 2 * SEGMENT_ROWS;

export interface SegmentRef {
  /** Its rowid; 0 for a segment not stored yet. */
  seq: number;
  /** Lower bound (in `.sort()` order) of its rows' paths. */
  first: string;
}

/** The segments, in order of their ranges; always at least one, the first with first ''. */
export function readDirectory(db: DB): SegmentRef[] {
  const rows = db.prepare('SELECT seq, first FROM workspace_segs').all() as SegmentRef[];
  rows.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : a.seq - b.seq));
  if (!rows.length || rows[0]!.first !== '') rows.unshift({ seq: 0, first: '' });
  return rows;
}

/** The index of the segment whose range holds `path`. */
export function segmentOf(dir: SegmentRef[], path: string): number {
  return partitionPoint(0, dir.length, (i) => dir[i]!.first <= path) - 1;
}

export function readSegment(db: DB, seq: number): Buffer {
  if (seq === 0) return Buffer.alloc(0);
  return (prepared(db, 'SELECT data FROM workspace_segs WHERE seq = ?').pluck().get(seq) as Buffer | undefined) ?? Buffer.alloc(0);
}

/** Stores a segment's bytes; returns its seq (a new one when seq is 0). */
export function writeSegment(db: DB, seq: number, first: string, data: Buffer): number {
  if (seq !== 0) {
    prepared(db, 'UPDATE workspace_segs SET first = ?, data = ? WHERE seq = ?').run(first, data, seq);
    return seq;
  }
  return Number(prepared(db, 'INSERT INTO workspace_segs (first, data) VALUES (?, ?)').run(first, data).lastInsertRowid);
}

export function deleteSegment(db: DB, seq: number): void {
  if (seq !== 0) db.prepare('DELETE FROM workspace_segs WHERE seq = ?').run(seq);
}

export function deleteAllSegments(db: DB): void {
  db.prepare('DELETE FROM workspace_segs').run();
}

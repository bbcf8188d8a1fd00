// The stat cache record: save() splices touched rows into the segment it loaded instead
// of re-encoding every row, and reads and writes only the segments it needs (stat-segments.ts). These tests pin that the result is byte for byte the full
// encoding of the same rows, on a real repository DB, across reloads and repeated saves.
import crypto from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Repo } from '../../src/repo/repo.js';
import { encodeStatIndex, StatCache, type WsFile } from '../../src/repo/workspace.js';
import { ops, resetOps } from '../../src/repo/opcount.js';
import { SEGMENT_MAX_ROWS, SEGMENT_ROWS } from '../../src/repo/stat-segments.js';
import { RepoFixtures } from '../helpers/repo.js';

const fx = new RepoFixtures();
afterEach(() => {
  vi.restoreAllMocks();
  fx.closeAll();
});

type Row = [number, number, number, number, string];
const OLD = Date.UTC(2020, 0, 1); // mtimes well past the racy window

/** A file row whose stat and hash depend on `seed` (so a new seed is a modification). */
function row(path: string, seed: number): { file: WsFile; hash: string } {
  const hash = crypto.createHash('sha256').update(`${path}#${seed}`).digest('hex');
  return { file: { path, size: 100 + seed, mtime: OLD + seed * 1000.5, ino: 10_000 + seed, mode: seed % 5 === 0 ? 0o755 : 0o644 }, hash };
}

/** Paths in varied order: UTF-16 order (as `.sort()` uses) differs from UTF-8 byte order
 * for the astral and fullwidth names. */
function pathOf(i: number): string {
  const name = ['f', 'é', '\u{1F600}', '\uFF5E', 'F'][i % 5];
  return `data/d${i % 7}/${name}${String(i).padStart(5, '0')}.csv`;
}

describe('stat cache save', () => {
  let repo: Repo;
  /** What the stored record must hold: path -> row. */
  let model: Map<string, Row>;

  /** The stored segments joined into one record, in the order of their ranges. */
  const stored = (): Buffer => {
    const segs = repo.db.prepare('SELECT first, data FROM workspace_segs').all() as { first: string; data: Buffer }[];
    segs.sort((a, b) => (a.first < b.first ? -1 : 1));
    const head = Buffer.alloc(8);
    head.writeUInt32LE(0x44565349, 0);
    head.writeUInt32LE(segs.reduce((n, s) => n + s.data.readUInt32LE(4), 0), 4);
    return Buffer.concat([head, ...segs.map((s) => s.data.subarray(8))]);
  };

  function apply(cache: StatCache, rows: { file: WsFile; hash: string }[]): void {
    cache.record(rows, Date.now());
    for (const { file: f, hash } of rows) model.set(f.path, [f.size, f.mtime, f.ino, f.mode, hash]);
  }

  function drop(cache: StatCache, paths: string[]): void {
    cache.forget(paths);
    for (const p of paths) model.delete(p);
  }

  /** Saves, counting the f64 writes: three per row encoded rather than copied. */
  function save(cache: StatCache): number {
    const spy = vi.spyOn(Buffer.prototype, 'writeDoubleLE');
    try {
      cache.save();
      return spy.mock.calls.length;
    } finally {
      spy.mockRestore();
    }
  }

  /** The stored bytes are the full encoding of `model`, and a fresh cache reads it back. */
  function expectStored(): void {
    expect(stored().equals(encodeStatIndex(model))).toBe(true);
    const fresh = new StatCache(repo.db);
    expect(fresh.size).toBe(model.size);
    for (const [p, [size, mtime, ino, mode, hash]] of model) {
      expect(fresh.hashOf({ path: p, size, mtime, ino, mode })).toBe(hash);
    }
  }

  beforeEach(async () => {
    ({ repo } = await fx.create());
    model = new Map();
    const cache = new StatCache(repo.db);
    apply(cache, Array.from({ length: 3000 }, (_, i) => row(pathOf(i), i)));
    cache.save();
    expectStored();
  });

  it('encodes only the touched rows, and stores what a full encode gives', () => {
    const cache = new StatCache(repo.db);
    const sorted = [...model.keys()].sort();
    // Modified, including the first and last rows of the record, and two rows one apart.
    apply(cache, [sorted[0], sorted[1], sorted[10], sorted[12], sorted[1500], sorted[2999], pathOf(42)].map((p, k) => row(p, 5000 + k)));
    // Added at the start, in the middle and at the end; one next to a modified row.
    const added = ['!first', 'AAA', `${sorted[1500]}x`, 'data/d3/m.csv', 'data/\u{1F600}.csv', '~last', '\uFF5E'];
    apply(cache, added.map((p, k) => row(p, 6000 + k)));
    // Removed: loaded rows (first after the modified ones, last-but-one, a run in the
    // middle), a modified row and an added row.
    drop(cache, [sorted[2], sorted[2998], sorted[700], sorted[701], sorted[702], pathOf(42), 'AAA']);
    // Too recent to be recorded ("racy"): neither stored nor touched.
    const racy = row('data/racy.csv', 1);
    cache.record([{ file: { ...racy.file, mtime: Date.now() }, hash: racy.hash }]);

    const encoded = save(cache);
    expect(encoded).toBeLessThanOrEqual(3 * 12);
    expectStored();
  });

  it('stays exact over successive record/save cycles on one instance', () => {
    const cache = new StatCache(repo.db);
    const sorted = [...model.keys()].sort();
    for (let cycle = 0; cycle < 6; cycle++) {
      // Decoding hashes (as status does) changes no row.
      for (const p of sorted.slice(cycle * 100, cycle * 100 + 50)) {
        const [size, mtime, ino, mode, hash] = model.get(p) ?? [0, 0, 0, 0, ''];
        if (hash) expect(cache.hashOf({ path: p, size, mtime, ino, mode })).toBe(hash);
      }
      apply(cache, [sorted[cycle * 400], sorted[cycle * 400 + 1], `new/${cycle}.csv`].map((p) => row(p, 7000 + cycle)));
      drop(cache, [sorted[cycle * 400 + 7], `new/${cycle - 1}.csv`]);
      if (cycle === 5) {
        // Many rows at once: past 1/8 of the record, the full encode.
        apply(cache, sorted.slice(1000, 1600).map((p) => row(p, 8000)));
        expect(save(cache)).toBeGreaterThan(3 * 600);
      } else {
        // Rows touched in earlier cycles are encoded again; the rest are copied.
        expect(save(cache)).toBeLessThanOrEqual(3 * 3 * (cycle + 1));
      }
      expectStored();
    }
  });

  it('saves exactly after retainOnly, which decodes every hash but touches only what it drops', () => {
    const cache = new StatCache(repo.db);
    const gone = new Set([...model.keys()].filter((_, i) => i % 300 === 7));
    const hashes = new Map([...model].map(([p, r]) => [p, r[4]]));
    cache.retainOnly((p, h) => {
      expect(h).toBe(hashes.get(p));
      return !gone.has(p);
    });
    for (const p of gone) model.delete(p);
    expect(save(cache)).toBe(0); // only removals: every remaining row is copied
    expectStored();

    apply(cache, [row('data/after-retain.csv', 9000)]);
    save(cache);
    expectStored();
  });
});

describe('stat cache segments', () => {
  const rows = (n: number, seed = 1) => Array.from({ length: n }, (_, i) => row(`data/s${String(i).padStart(6, '0')}.csv`, seed));
  const segCount = (repo: Repo) => repo.db.prepare('SELECT count(*) FROM workspace_segs').pluck().get() as number;

  it('a lookup reads one segment, a change rewrites one, growth splits and emptying deletes', async () => {
    const { repo, root } = await fx.create();
    const N = 3 * SEGMENT_MAX_ROWS + 100;
    const all = rows(N);
    const probe = Math.floor(N / 2) + 1; // a row of a segment no later step touches
    const cache = new StatCache(repo.db);
    cache.record(all);
    cache.save(); // one segment grown past the maximum: split into SEGMENT_ROWS pieces
    expect(segCount(repo)).toBe(Math.ceil(N / SEGMENT_ROWS));

    resetOps();
    const fresh = new StatCache(fx.reopen(root).db);
    expect(fresh.hashOf(all[probe]!.file)).toBe(all[probe]!.hash);
    expect(fresh.hashOf({ ...all[probe]!.file, size: 1 })).toBeNull();
    expect(ops.rowsLoaded).toBe(SEGMENT_ROWS); // only that row's segment
    fresh.record([row(all[probe]!.file.path, 2)]);
    fresh.save();
    expect(ops.rowsSaved).toBe(SEGMENT_ROWS);

    // Rows added inside one segment's range until it splits; then all of one segment's rows removed.
    const inserted = Array.from({ length: SEGMENT_MAX_ROWS }, (_, i) => row(`${all[10]!.file.path}+${String(i).padStart(5, '0')}`, 3));
    const c2 = new StatCache(fx.reopen(root).db);
    c2.record(inserted);
    c2.save();
    expect(segCount(repo)).toBe(Math.ceil(N / SEGMENT_ROWS) + 2);
    const c3 = new StatCache(fx.reopen(root).db);
    c3.forget(all.slice(2 * SEGMENT_ROWS, 3 * SEGMENT_ROWS).map((r) => r.file.path));
    c3.save();
    expect(segCount(repo)).toBe(Math.ceil(N / SEGMENT_ROWS) + 1);

    const check = new StatCache(fx.reopen(root).db);
    expect(check.size).toBe(N + SEGMENT_MAX_ROWS - SEGMENT_ROWS);
    const paths = [...check.paths()].sort();
    const want = [...all.filter((_, i) => i < 2 * SEGMENT_ROWS || i >= 3 * SEGMENT_ROWS), ...inserted].map((r) => r.file.path).sort();
    expect(paths).toEqual(want);
    expect(check.hashOf(inserted[77]!.file)).toBe(inserted[77]!.hash);
    expect(check.hashOf(all[probe]!.file)).toBeNull(); // recorded again with seed 2
    expect(check.recorded(all[probe]!.file.path)?.hash).toBe(row(all[probe]!.file.path, 2).hash);
  });

  it('opens a repository whose record is one workspace_rows blob (before repo migration 5)', async () => {
    const { repo, root } = await fx.create();
    const old = rows(300);
    const model = new Map(old.map(({ file: f, hash }) => [f.path, [f.size, f.mtime, f.ino, f.mode, hash] as Row]));
    repo.db.exec(`DROP TABLE workspace_segs; CREATE TABLE workspace_rows (id INTEGER PRIMARY KEY CHECK (id = 1), data BLOB NOT NULL)`);
    repo.db.prepare('INSERT INTO workspace_rows (id, data) VALUES (1, ?)').run(encodeStatIndex(model));
    repo.db.prepare("INSERT INTO workspace_index (id, mirror, fingerprint, files, chunks) VALUES (1, '', '', ?, x'') ON CONFLICT(id) DO UPDATE SET files = excluded.files").run(old.length);
    repo.db.prepare("UPDATE meta SET value = '4' WHERE key = 'schema_version:repo'").run();
    repo.close();
    const again = fx.reopen(root);
    expect(again.db.prepare("SELECT value FROM meta WHERE key = 'schema_version:repo'").pluck().get()).toBe('5');
    const cache = new StatCache(again.db);
    expect(cache.size).toBe(300);
    for (const r of old) expect(cache.hashOf(r.file)).toBe(r.hash);
    cache.forget([old[0]!.file.path]);
    cache.save();
    expect(new StatCache(again.db).hashOf(old[0]!.file)).toBeNull();
    expect(new StatCache(again.db).hashOf(old[1]!.file)).toBe(old[1]!.hash);
  });
});

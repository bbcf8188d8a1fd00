// The local SQLite index (WAL). Each area (store, repo, pipeline, s3proxy) owns its
// tables and migrates them under its own version key, so areas stay independent.
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { DvError, printable } from './errors.js';
import { sqliteExtension } from './native-addon.js';

export type DB = Database.Database;

export interface Migration {
  version: number;
  up: string;
}

export function openDb(path: string): DB {
  let db: DB;
  try {
    db = new Database(path);
  } catch (e) {
    throw new DvError(`cannot open ${path}: ${(e as Error).message}`);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 10000');
    keepWalOnClose(db);
    db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  } catch (e) {
    db.close();
    const code = (e as { code?: string }).code ?? '';
    if (!/^SQLITE_(NOTADB|CORRUPT)/.test(code)) throw e;
    throw new DvError(`cannot read ${path}: ${(e as Error).message}; dv fsck --repair rebuilds it from the packs and .dv/refs.log`);
  }
  return db;
}

/** Connections that leave the write-ahead log at close (native/sqlite-ext.c says why). */
const keepsWal = new WeakSet<DB>();

function keepWalOnClose(db: DB): void {
  const extension = sqliteExtension();
  if (!extension) return;
  try {
    // The entry point's name (better-sqlite3 takes it; its typings omit the parameter).
    (db.loadExtension as (file: string, entryPoint: string) => DB)(extension, 'dv_sqlite_init');
    keepsWal.add(db);
  } catch {
    // Not loadable here: closing checkpoints, as SQLite does by default.
  }
}

/** Closes a connection of openDb. One that kept its log makes the log durable (one fsync,
 * where SQLite's checkpoint at close cost two and a copy of every page written). */
export function closeDb(db: DB): void {
  db.close();
  if (!keepsWal.has(db)) return;
  let fd: number;
  try {
    fd = fs.openSync(`${db.name}-wal`, 'r');
  } catch {
    return; // no log: nothing was written since the last checkpoint deleted it
  }
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The most of the index file a long-lived reader maps (SQLite caps it near 2 GiB). */
const MAP_BYTES = 1 << 30;

/**
 * Reads of this connection go through a memory map of the index file instead of a read
 * call per page (PRAGMA mmap_size), for a process that reads for long (dv serve). A page
 * of a listing looks up 1,000 MD5 records keyed by hash: in a 1,000,000-file repository
 * they sit in ~1,000 different B-tree leaves, more than SQLite's page cache (2 MiB) holds,
 * so each lookup was a pread of 4 KiB even with the file in the OS cache (strace: ~900 a
 * page never listed before; 10,000 files: none, their leaves stay in SQLite's cache).
 * Mapped, such a read is a memory access: 1,000 lookups of a fresh page took 7-11 ms, now
 * 5-9 (2026-12-02, loaded machine). Writes still go through write(); in WAL mode each read
 * transaction sees its snapshot, and SQLite maps again when the file grows.
 */
export function mapForReads(db: DB, bytes = MAP_BYTES): void {
  db.pragma(`mmap_size = ${bytes}`);
}

const statements = new WeakMap<DB, Map<string, Database.Statement>>();

/**
 * `db.prepare(sql)` compiled once per connection, for a statement a module-level
 * function runs many times (compiling one costs ~0.1 ms: a run reading 40 stat-cache
 * segments paid 5 ms for it). Each call site keeps its own SQL text, so a mode set on
 * the statement (`pluck`) is that site's alone.
 */
export function prepared(db: DB, sql: string): Database.Statement {
  let bySql = statements.get(db);
  if (!bySql) statements.set(db, (bySql = new Map()));
  let stmt = bySql.get(sql);
  if (!stmt) bySql.set(sql, (stmt = db.prepare(sql)));
  return stmt;
}

/**
 * An INSERT of many rows, `ROWS_PER_STATEMENT` per statement: one statement call per row
 * was most of what a bulk insert (a pack's index rows, a batch of MD5 records) cost.
 * `head` is the statement up to its VALUES keyword; each row has `width` values.
 */
export class BulkInsert {
  private static readonly ROWS_PER_STATEMENT = 32;
  private readonly one: Database.Statement;
  private readonly many: Database.Statement;

  constructor(db: DB, head: string, private readonly width: number) {
    const tuple = `(${Array(width).fill('?').join(', ')})`;
    this.one = db.prepare(`${head} VALUES ${tuple}`);
    this.many = db.prepare(`${head} VALUES ${Array(BulkInsert.ROWS_PER_STATEMENT).fill(tuple).join(', ')}`);
  }

  /** Inserts `rows` in order (call inside a transaction: the statements are not one). */
  run(rows: Iterable<readonly unknown[]>): void {
    const step = BulkInsert.ROWS_PER_STATEMENT * this.width;
    const args: unknown[] = [];
    for (const row of rows) {
      args.push(...row);
      if (args.length === step) { this.many.run(args); args.length = 0; }
    }
    for (let i = 0; i < args.length; i += this.width) this.one.run(args.slice(i, i + this.width));
  }
}

export function getMeta(db: DB, key: string): string | undefined {
  const row = prepared(db, 'SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

export function setMeta(db: DB, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
}

export function deleteMeta(db: DB, key: string): void {
  db.prepare('DELETE FROM meta WHERE key = ?').run(key);
}

/** Applies the area's pending migrations in one transaction. A database written by a
 * newer dv is refused rather than silently misread. */
export function migrate(db: DB, area: string, migrations: Migration[]): void {
  const key = `schema_version:${area}`;
  const raw = getMeta(db, key);
  // A damaged version must not pass for another one (NaN would skip every migration).
  if (raw !== undefined && !/^[0-9]{1,9}$/.test(raw)) {
    throw new DvError(`cannot read ${db.name}: its ${area} schema version is damaged (${JSON.stringify(printable(raw))}); dv fsck --repair rebuilds it from the packs and .dv/refs.log`);
  }
  const current = Number(raw ?? 0);
  const latest = migrations.length ? migrations[migrations.length - 1].version : 0;
  if (current > latest) {
    throw new DvError(`repository ${area} schema version ${current} is newer than this dv supports (${latest}); upgrade dv`);
  }
  if (current === latest) return;
  db.transaction(() => {
    for (const m of migrations) {
      if (m.version > current) db.exec(m.up);
    }
    setMeta(db, key, String(latest));
  })();
}

export const STORE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    up: `
      CREATE TABLE packs (id TEXT PRIMARY KEY, size INTEGER NOT NULL, blobs INTEGER NOT NULL);
      CREATE TABLE blobs (id BLOB PRIMARY KEY, type INTEGER NOT NULL, pack TEXT NOT NULL,
                          offset INTEGER NOT NULL, length INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX blobs_pack ON blobs (pack);
    `,
  },
];

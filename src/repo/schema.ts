import type { Migration } from '../store/db.js';

export const REPO_MIGRATIONS: Migration[] = [
  {
    version: 1,
    up: `
      CREATE TABLE refs (name TEXT PRIMARY KEY, target TEXT NOT NULL);
      CREATE TABLE workspace_index (id INTEGER PRIMARY KEY CHECK (id = 1), mirror TEXT NOT NULL, data BLOB NOT NULL);
    `,
  },
  {
    // The scan fingerprint and file count of a mirrored workspace, readable without the record.
    version: 2,
    up: `
      ALTER TABLE workspace_index ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
      ALTER TABLE workspace_index ADD COLUMN files INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    // Every move of a branch or HEAD (refs.ts); the dv.lock read at each git commit
    // (git commits never change, so what their dv.lock names is cached for good; dv is
    // null where the commit has no dv.lock); packs gc deleted or rewrote, which fetch
    // does not download again unless a ref turns out to need them.
    version: 3,
    up: `
      CREATE TABLE reflog (id INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT NOT NULL, old TEXT, new TEXT,
                           time TEXT NOT NULL, message TEXT NOT NULL);
      CREATE INDEX reflog_ref ON reflog (ref, id);
      CREATE TABLE git_locks (commit_id TEXT PRIMARY KEY, dv TEXT, parents TEXT NOT NULL);
      CREATE TABLE dropped_packs (id TEXT PRIMARY KEY);
    `,
  },
  {
    // The stat cache's record moves to its own table, so the small columns (the mirror,
    // the scan fingerprint, the chunk fingerprints of scan-chunks.ts) are read and
    // rewritten without the ~84 MB record of a 1,000,000-file workspace (SQLite reads a
    // column after a blob through its overflow pages, and rewrites the whole row on update).
    version: 4,
    up: `
      CREATE TABLE workspace_rows (id INTEGER PRIMARY KEY CHECK (id = 1), data BLOB NOT NULL);
      INSERT INTO workspace_rows (id, data) SELECT id, data FROM workspace_index;
      ALTER TABLE workspace_index DROP COLUMN data;
      ALTER TABLE workspace_index ADD COLUMN chunks BLOB NOT NULL DEFAULT x'';
    `,
  },
  {
    // The record is cut into sorted segments (stat-segments.ts), so a command touching
    // one file reads and rewrites one segment of ~2,048 rows, not every row. An existing
    // record becomes the one segment covering every path; the first save that changes
    // it splits it.
    version: 5,
    up: `
      CREATE TABLE workspace_segs (seq INTEGER PRIMARY KEY, first TEXT NOT NULL, data BLOB NOT NULL);
      INSERT INTO workspace_segs (seq, first, data) SELECT 1, '', data FROM workspace_rows WHERE length(data) > 0;
      DROP TABLE workspace_rows;
    `,
  },
];

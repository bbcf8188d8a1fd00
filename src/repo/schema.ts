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
];

import type { Migration } from '../store/db.js';

export const REPO_MIGRATIONS: Migration[] = [
  {
    version: 1,
    up: `
      CREATE TABLE refs (name TEXT PRIMARY KEY, target TEXT NOT NULL);
      CREATE TABLE stat (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime REAL NOT NULL,
                         ino INTEGER NOT NULL, mode INTEGER NOT NULL, hash TEXT NOT NULL,
                         chunks BLOB NOT NULL) WITHOUT ROWID;
    `,
  },
];

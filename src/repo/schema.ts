import type { Migration } from '../store/db.js';

export const REPO_MIGRATIONS: Migration[] = [
  {
    version: 1,
    up: `
      CREATE TABLE refs (name TEXT PRIMARY KEY, target TEXT NOT NULL);
      CREATE TABLE workspace_index (id INTEGER PRIMARY KEY CHECK (id = 1), mirror TEXT NOT NULL, data BLOB NOT NULL);
    `,
  },
];

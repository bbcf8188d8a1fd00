// Last resort of dv fsck --repair for SQLite-level damage that REINDEX cannot fix: a
// table whose pages no longer read is rebuilt from its own schema with the rows that
// still read (one SELECT per rowid, so one bad page loses only its rows). The blob
// index is rebuilt from the packs before this runs; the other tables are the areas'
// state (refs, the reflog) or caches of derived facts (git history, ETags, the pipeline
// index), which their owners recompute when rows are missing.
import type { DB } from './db.js';

interface TableSchema {
  name: string;
  sql: string;
  indexes: string[];
}

function schemas(db: DB): TableSchema[] {
  const rows = db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")
    .all() as { type: string; name: string; tbl_name: string; sql: string }[];
  return rows.filter((r) => r.type === 'table').map((t) => ({
    name: t.name, sql: t.sql, indexes: rows.filter((r) => r.type === 'index' && r.tbl_name === t.name).map((r) => r.sql),
  }));
}

function readsWhole(db: DB, table: string): boolean {
  try {
    db.prepare(`SELECT * FROM "${table}"`).raw().all();
    return true;
  } catch {
    return false;
  }
}

/** The rows of `table` that still read, by rowid (none for a WITHOUT ROWID table). */
function readableRows(db: DB, table: string): unknown[][] {
  let max: number;
  try {
    max = Number(db.prepare(`SELECT max(rowid) FROM "${table}"`).pluck().get() ?? 0);
  } catch {
    return [];
  }
  const one = db.prepare(`SELECT * FROM "${table}" WHERE rowid = ?`).raw();
  const out: unknown[][] = [];
  for (let id = 1; id <= max && id <= 10_000_000; id++) {
    try {
      const row = one.get(id) as unknown[] | undefined;
      if (row) out.push(row);
    } catch { /* on a damaged page */ }
  }
  return out;
}

/** Rebuilds every table that cannot be read whole; returns their names. */
export function salvageTables(db: DB): string[] {
  let tables: TableSchema[];
  try {
    tables = schemas(db);
  } catch {
    return []; // the schema itself is damaged: nothing to go by
  }
  const rebuilt: string[] = [];
  for (const t of tables) {
    if (readsWhole(db, t.name)) continue;
    const rows = t.sql.includes('WITHOUT ROWID') ? [] : readableRows(db, t.name);
    try {
      db.transaction(() => {
        db.exec(`DROP TABLE "${t.name}"`);
        db.exec(t.sql);
        for (const ix of t.indexes) db.exec(ix);
        if (rows.length) {
          const put = db.prepare(`INSERT OR IGNORE INTO "${t.name}" VALUES (${rows[0].map(() => '?').join(', ')})`);
          for (const r of rows) put.run(...r);
        }
      })();
      rebuilt.push(t.name);
    } catch { /* left for the caller's report */ }
  }
  return rebuilt;
}

/*
 * dvsqlite: a SQLite extension that dv loads into each of its connections to .dv/dv.db
 * (src/store/db.ts). It only turns on SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE: closing the last
 * connection then leaves the write-ahead log in place instead of copying it into dv.db.
 * That checkpoint cost every writing command two fsyncs (the log, then dv.db: ~15 ms on
 * this disk) and a copy of every page it wrote; dv now fsyncs the log alone at close
 * (as durable: committed frames are replayed by the next open), and SQLite's automatic
 * checkpoint folds the log into dv.db once it reaches 1,000 pages. better-sqlite3 gives
 * no access to sqlite3_db_config; an extension gets the connection itself.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

int dv_sqlite_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
  SQLITE_EXTENSION_INIT2(api);
  int on = 0;
  sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, &on);
  return on ? SQLITE_OK : SQLITE_ERROR;
}

// The MD5 of each stored file's content, by its BLAKE3 checksum: what S3 clients
// expect as the ETag of an object written in one part (rclone, s3cmd and the AWS
// SDKs compare it with their own MD5 of the bytes). It is a pure function of the
// content, so it is kept only in the local index (not in trees): every clone
// computes the same value, when the file is stored (ingest) or, for files stored
// before this index existed or fetched from a remote, on first need (md5Of).
// Multipart ETags are not a function of the content; they live in the tree entry
// (FileEntry.s3). The table has its own migration area so it stays independent.
import { createHash } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { migrate, type DB } from '../store/db.js';
import type { BlobStore } from '../store/blobstore.js';
import { readRange } from './fileio.js';
import { md5Drain } from './md5.js';
import type { StoredFile } from './types.js';

const MIGRATIONS = [{
  version: 1,
  up: 'CREATE TABLE file_md5 (hash BLOB PRIMARY KEY, md5 BLOB NOT NULL) WITHOUT ROWID;',
}];

/** Records are written in batches of this many: one transaction per file cost as much
 * as the rest of adding a small file. A batch lost with the process is recomputed on need. */
const BATCH = 4096;
/** Batches go first to a staging table (appended, in arrival order) and into file_md5 once
 * this many wait, or at flush(), in one sorted INSERT ... SELECT: each B-tree page of
 * file_md5 is then written once per merge. Writing each batch straight into file_md5
 * touched most of its pages per batch (the keys are random), which made the MD5 rows the
 * largest cost of a first `dv add` of many small files (8 s of 30 at 200,000 files). */
const MERGE_AT = 1 << 16; // a merge of 4x this many held ~25 MB more at peak (SQLite sorts it in memory)

export class Md5Index {
  private readonly getStmt;
  private pending = new Map<string, string>();
  private staged = 0;
  private readonly stageStmt: Statement;

  constructor(private readonly db: DB) {
    migrate(db, 'etags', MIGRATIONS);
    this.getStmt = db.prepare('SELECT md5 FROM file_md5 WHERE hash = ?').pluck();
    // Made here, not in stage(): a caller's transaction rolled back would take it along.
    db.exec('CREATE TEMP TABLE IF NOT EXISTS md5_stage (hash BLOB NOT NULL, md5 BLOB NOT NULL)');
    db.pragma('temp.cache_size = -1024'); // appended, then read once in order: 1 MiB of cache will do
    this.stageStmt = db.prepare('INSERT INTO temp.md5_stage (hash, md5) VALUES (?, ?)');
  }

  /** Writes the records not yet written (in one transaction). */
  flush(): void {
    md5Drain(); // MD5s still being hashed on the ingest's thread (md5.ts) come in first
    this.stage();
    this.merge();
  }

  /** Appends the pending records to the staging table (temp.md5_stage, this connection's). */
  private stage(): void {
    if (!this.pending.size) return;
    const stmt = this.stageStmt;
    const rows = [...this.pending];
    this.pending.clear();
    this.db.transaction(() => { for (const [h, m] of rows) stmt.run(Buffer.from(h, 'hex'), Buffer.from(m, 'hex')); })();
    this.staged += rows.length;
    if (this.staged >= MERGE_AT) this.merge();
  }

  /** Moves the staged records into file_md5, in key order. */
  private merge(): void {
    if (!this.staged) return;
    this.staged = 0;
    this.db.transaction(() => {
      this.db.exec('INSERT OR IGNORE INTO file_md5 (hash, md5) SELECT hash, md5 FROM temp.md5_stage ORDER BY hash; DELETE FROM temp.md5_stage');
    })();
  }

  /** The recorded MD5 (hex) of the file with this BLAKE3 checksum, if known. */
  get(hash: string): string | undefined {
    const p = this.pending.get(hash);
    if (p) return p;
    const key = Buffer.from(hash, 'hex');
    let b = this.getStmt.get(key) as Buffer | undefined;
    if (!b && this.staged) { this.merge(); b = this.getStmt.get(key) as Buffer | undefined; }
    return b?.toString('hex');
  }

  record(hash: string, md5: string): void {
    this.pending.set(hash, md5);
    if (this.pending.size >= BATCH) this.stage();
  }

  /** The MD5 of a stored file: recorded, or computed by reading it once and recorded. */
  async md5Of(store: BlobStore, file: StoredFile): Promise<string> {
    const known = this.get(file.hash);
    if (known) return known;
    const h = createHash('md5');
    for await (const b of readRange(store, file)) h.update(b);
    const md5 = h.digest('hex');
    this.record(file.hash, md5);
    return md5;
  }
}

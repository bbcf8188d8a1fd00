// The MD5 of each stored file's content, by its BLAKE3 checksum: what S3 clients
// expect as the ETag of an object written in one part (rclone, s3cmd and the AWS
// SDKs compare it with their own MD5 of the bytes). It is a pure function of the
// content, so it is kept only in the local index (not in trees): every clone
// computes the same value, when the file is stored (ingest) or, for files stored
// before this index existed or fetched from a remote, on first need (md5Of).
// Multipart ETags are not a function of the content; they live in the tree entry
// (FileEntry.s3). The table has its own migration area so it stays independent.
import { createHash } from 'node:crypto';
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

export class Md5Index {
  private readonly getStmt;
  private readonly putStmt;
  private pending = new Map<string, string>();

  constructor(private readonly db: DB) {
    migrate(db, 'etags', MIGRATIONS);
    this.getStmt = db.prepare('SELECT md5 FROM file_md5 WHERE hash = ?').pluck();
    this.putStmt = db.prepare('INSERT OR IGNORE INTO file_md5 (hash, md5) VALUES (?, ?)');
  }

  /** Writes the records not yet written (in one transaction). */
  flush(): void {
    md5Drain(); // MD5s still being hashed on the ingest's thread (md5.ts) come in first
    if (!this.pending.size) return;
    const rows = [...this.pending].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)); // key order: each B-tree page touched once
    this.pending.clear();
    this.db.transaction(() => { for (const [h, m] of rows) this.putStmt.run(Buffer.from(h, 'hex'), Buffer.from(m, 'hex')); })();
  }

  /** The recorded MD5 (hex) of the file with this BLAKE3 checksum, if known. */
  get(hash: string): string | undefined {
    const p = this.pending.get(hash);
    if (p) return p;
    const b = this.getStmt.get(Buffer.from(hash, 'hex')) as Buffer | undefined;
    return b?.toString('hex');
  }

  record(hash: string, md5: string): void {
    this.pending.set(hash, md5);
    if (this.pending.size >= BATCH) this.flush();
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

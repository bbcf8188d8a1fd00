// Proof that a blob id is not in the index, without asking SQLite. While a BlobStore's
// index held nothing but what the store indexed itself (a first `dv add`: the index
// starts empty), a Bloom filter of the ids it indexed answers "certainly not there" for
// a new id: a first add of 1,000,000 small files otherwise paid one SELECT per blob
// (~3 s of 30 at 200,000 files). "Maybe there" still asks SQLite. The filter is dropped
// for good when another connection writes the database (PRAGMA data_version, looked at
// every 256 checks) or when it holds more ids than it was sized for; a blob another
// connection indexed in between may be stored twice, so only put()'s dedupe uses it.
import type { DB } from './db.js';

/** Bits of the filter (2 MiB) and ids it takes: 8 bits per id, 4 probes, ~2.4% false "maybe". */
const BITS = 1 << 24;
const CAPACITY = 1 << 21;
/** How many checks may pass between two looks at data_version. */
const RECHECK_EVERY = 256;

export class NewIds {
  private bits = new Int32Array(BITS >>> 5);
  private count = 0;
  private checks = 0;

  private constructor(private readonly version: () => number, private readonly seen: number) {}

  /** A filter for `db` when its blobs table is empty now; null otherwise. */
  static ifEmpty(db: DB): NewIds | null {
    if (db.prepare('SELECT 1 FROM blobs LIMIT 1').get() !== undefined) return null;
    const stmt = db.prepare('PRAGMA data_version').pluck();
    const version = () => stmt.get() as number;
    return new NewIds(version, version());
  }

  /** Whether the filter still covers the whole index (false: drop it). */
  valid(): boolean {
    if (this.count > CAPACITY) return false;
    if (++this.checks % RECHECK_EVERY !== 0) return true;
    return this.version() === this.seen;
  }

  /** True only when `id` (a 32-byte BLAKE3) was never added: it is not in the index. */
  lacks(id: Buffer): boolean {
    for (let k = 0; k < 4; k++) {
      const b = id.readUInt32LE(k * 4) & (BITS - 1);
      if ((this.bits[b >>> 5]! & (1 << (b & 31))) === 0) return true;
    }
    return false;
  }

  add(id: Buffer): void {
    for (let k = 0; k < 4; k++) {
      const b = id.readUInt32LE(k * 4) & (BITS - 1);
      this.bits[b >>> 5]! |= 1 << (b & 31);
    }
    this.count++;
  }
}

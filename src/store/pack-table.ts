// The table of a pack being written, kept from the start in its on-disk layout (packfile.ts:
// ENTRY_BYTES per blob, fixed-size records in one growing Buffer) with an open-addressing
// hash of record numbers for lookups by id. A first `dv add` of 1,000,000 small files puts
// 65,536 blobs in each pack before it is sealed and indexed: as a Map of entry objects that
// was ~250 bytes of JavaScript heap per blob, all of it promoted to the old generation and
// dropped at once per pack, which let garbage pile up to hundreds of MB before a full GC.
// Here a blob costs ~53 bytes and no object at all until one is asked for.
import { ENTRY_BYTES, readEntry, writeEntry, type BlobType, type PackEntry } from './packfile.js';
import { idOrder } from './sorted.js';

/** What a sealed pack's index rows are made from: an array, or a PackTable. */
export interface PackEntries extends Iterable<PackEntry> {
  readonly length: number;
}

export class PackTable implements PackEntries {
  private rows = Buffer.alloc(1024 * ENTRY_BYTES);
  private count = 0;
  /** Record number + 1 per slot (0: empty); at most half full. */
  private slots = new Int32Array(2048);

  get length(): number {
    return this.count;
  }

  /** Appends a blob's record; the caller made sure `id` is not in the table yet. */
  add(type: BlobType, id: Buffer, offset: number, length: number): void {
    if ((this.count + 1) * ENTRY_BYTES > this.rows.length) {
      const grown = Buffer.alloc(this.rows.length * 2);
      this.rows.copy(grown);
      this.rows = grown;
    }
    writeEntry(this.rows, this.count * ENTRY_BYTES, { type, id, offset, length });
    this.count++;
    if (this.count * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.place(this.count - 1);
  }

  /** The record number of `id`, or -1. */
  find(id: Buffer): number {
    const mask = this.slots.length - 1;
    for (let s = id.readUInt32LE(0) & mask; ; s = (s + 1) & mask) {
      const r = this.slots[s]! - 1;
      if (r < 0) return -1;
      if (this.rows.compare(id, 0, 32, r * ENTRY_BYTES + 1, r * ENTRY_BYTES + 33) === 0) return r;
    }
  }

  has(id: Buffer): boolean {
    return this.find(id) >= 0;
  }

  /** Record `i` as an entry (its id copied out of the table). */
  entry(i: number): PackEntry {
    return readEntry(this.rows, i * ENTRY_BYTES);
  }

  get(id: Buffer): PackEntry | undefined {
    const i = this.find(id);
    return i < 0 ? undefined : this.entry(i);
  }

  /** The entries in the byte order of their ids (see BlobStore.indexPack). */
  *byId(): Generator<PackEntry> {
    const { rows } = this;
    for (const i of idOrder(this.count, () => rows, (i) => i * ENTRY_BYTES + 1)) yield this.entry(i);
  }

  *[Symbol.iterator](): Iterator<PackEntry> {
    for (let i = 0; i < this.count; i++) yield this.entry(i);
  }

  /** The records, exactly the table part of the pack file (packfile.ts encodeTable). */
  bytes(): Buffer {
    return this.rows.subarray(0, this.count * ENTRY_BYTES);
  }

  private place(r: number): void {
    const mask = this.slots.length - 1;
    let s = this.rows.readUInt32LE(r * ENTRY_BYTES + 1) & mask;
    while (this.slots[s] !== 0) s = (s + 1) & mask;
    this.slots[s] = r + 1;
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size);
    for (let r = 0; r < this.count; r++) this.place(r);
  }
}

// Content-addressed blobs in packs, indexed in SQLite. Every read is verified against
// its id, so corruption surfaces as a CorruptionError instead of wrong bytes.
import fs from 'node:fs';
import path from 'node:path';
import { BulkInsert, type DB } from './db.js';
import { blake3 } from './hash.js';
import { CorruptionError, DvError } from './errors.js';
import { BlobType } from './packfile.js';
import { PackWriter, packPath, type SealedPack } from './packwriter.js';
import { packThread } from './pack-thread.js';
import { PackTable } from './pack-table.js';
import { NewIds } from './new-ids.js';

export const PACK_TARGET = 32 << 20;
/** A pack of tiny blobs is sealed at this many: its open index (ids in memory) stays small. */
export const PACK_MAX_BLOBS = 1 << 16;
const MAX_OPEN_PACKS = 64;
/** Once this many bytes were put (or are announced by expect()), in blobs of this size on
 *  average, new packs are written on the pack thread (pack-thread.ts): a small commit, or one
 *  of tiny files (where writing is not what costs), never starts the thread; a large add
 *  overlaps writing with chunking, from its first pack on when it starts with a large file. */
const THREAD_AFTER = 8 << 20;
const THREAD_MIN_AVG = 16 << 10;
/** Packs being sealed on the thread at most while the next one fills. */
const MAX_SEALING = 2;

export interface BlobLocation {
  type: BlobType;
  pack: string;
  offset: number;
  length: number;
}

/** Where pack bytes come from: local files, or (for `dv serve --remote`) ranged GETs. */
export interface PackReader {
  read(pack: string, offset: number, length: number): Promise<Buffer>;
  /** The bytes just read did not match their id: drop any cached copy (one retry follows). */
  invalidate?(pack: string, offset: number, length: number): void;
  close(): void;
}

export class LocalPackReader implements PackReader {
  private fds = new Map<string, number>();
  constructor(private packsDir: string) {}

  async read(pack: string, offset: number, length: number): Promise<Buffer> {
    return this.readSync(pack, offset, length);
  }

  readSync(pack: string, offset: number, length: number): Buffer {
    const fd = this.fd(pack);
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(fd, buf, got, length - got, offset + got);
      if (n === 0) throw new CorruptionError(`pack ${pack} is truncated`);
      got += n;
    }
    return buf;
  }

  private fd(pack: string): number {
    let fd = this.fds.get(pack);
    if (fd !== undefined) return fd;
    // A damaged index row can name any bytes: never echo them, never open a path from them.
    if (!/^[0-9a-f]{64}$/.test(pack)) throw new CorruptionError('the index names a pack by an invalid id (a damaged row); run dv fsck --repair');
    if (this.fds.size >= MAX_OPEN_PACKS) this.closeOne();
    try {
      fd = fs.openSync(packPath(this.packsDir, pack), 'r');
    } catch {
      throw new CorruptionError(`pack ${pack} is missing; run dv fsck`);
    }
    this.fds.set(pack, fd);
    return fd;
  }

  private closeOne(): void {
    const [first, fd] = this.fds.entries().next().value as [string, number];
    fs.closeSync(fd);
    this.fds.delete(first);
  }

  forget(pack: string): void {
    const fd = this.fds.get(pack);
    if (fd !== undefined) { fs.closeSync(fd); this.fds.delete(pack); }
  }

  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }
}

export class BlobStore {
  readonly packsDir: string;
  readonly tmpDir: string;
  readonly local: LocalPackReader;
  /** The open pack; its table (PackWriter.entries) is what was put and is not indexed yet. */
  private writer: PackWriter | null = null;
  /** Packs handed to the thread for sealing, oldest first (their blobs are not indexed yet). */
  private sealing: PackWriter[] = [];
  private bytesPut = 0;
  private blobsPut = 0;
  /** Bytes the caller said are about to be put (expect()). */
  private coming = 0;
  private stmtHas;
  private stmtGet;
  private readonly insertBlobs: BulkInsert;
  private stmtInsertPack;
  /** Ids this store indexed while the index held nothing else (new-ids.ts); null: off, undefined: not looked at yet. */
  private fresh: NewIds | null | undefined;

  constructor(readonly db: DB, dvDir: string, private reader?: PackReader, private packTarget = PACK_TARGET) {
    this.packsDir = path.join(dvDir, 'packs');
    this.tmpDir = path.join(dvDir, 'tmp');
    this.local = new LocalPackReader(this.packsDir);
    this.stmtHas = db.prepare('SELECT 1 FROM blobs WHERE id = ?').pluck();
    this.stmtGet = db.prepare('SELECT type, pack, offset, length FROM blobs WHERE id = ?');
    this.insertBlobs = new BulkInsert(db, 'INSERT OR IGNORE INTO blobs (id, type, pack, offset, length)', 5);
    this.stmtInsertPack = db.prepare('INSERT OR IGNORE INTO packs (id, size, blobs) VALUES (?, ?, ?)');
  }

  /** Ids of every indexed pack. */
  packIds(): string[] {
    return this.db.prepare('SELECT id FROM packs').pluck().all() as string[];
  }

  /** The indexed blobs of one pack that have one of `types`. */
  blobsInPack(pack: string, types: number[]): { id: Buffer; type: number }[] {
    if (types.length === 0) return [];
    return this.db.prepare(`SELECT id, type FROM blobs WHERE pack = ? AND type IN (${types.map(() => '?').join(', ')})`)
      .all(pack, ...types) as { id: Buffer; type: number }[];
  }

  has(id: Buffer): boolean {
    return this.pending(id) || this.sealing.some((w) => w.entries.has(id)) || this.stmtHas.get(id) !== undefined;
  }

  /** has() for put(): the Bloom filter (new-ids.ts) may spare the lookup. It can miss a blob
   * another connection indexed moments ago (then it is stored twice, harmlessly), so it
   * never answers has(), whose callers rely on a blob being there. */
  private stored(id: Buffer): boolean {
    if (this.pending(id) || this.sealing.some((w) => w.entries.has(id))) return true;
    if (this.fresh === undefined) this.fresh = NewIds.ifEmpty(this.db);
    if (this.fresh && !this.fresh.valid()) this.fresh = null;
    if (this.fresh?.lacks(id)) return false;
    return this.stmtHas.get(id) !== undefined;
  }

  /** Whether `id` is in the open pack. */
  private pending(id: Buffer): boolean {
    return this.writer !== null && this.writer.entries.has(id);
  }

  /** Size in bytes of an indexed pack, or undefined when the index does not know it. */
  packSize(pack: string): number | undefined {
    return this.db.prepare('SELECT size FROM packs WHERE id = ?').pluck().get(pack) as number | undefined;
  }

  locate(id: Buffer): BlobLocation | undefined {
    return this.stmtGet.get(id) as BlobLocation | undefined;
  }

  /** Hex ids of every indexed blob of the given types. */
  idsOfType(...types: BlobType[]): string[] {
    const ids = this.db.prepare(`SELECT id FROM blobs WHERE type IN (${types.map(() => '?').join(', ')})`).pluck().all(...types) as Buffer[];
    return ids.map((id) => id.toString('hex'));
  }

  /** Hex ids of the indexed blobs of `type` whose hex id starts with `prefix`. */
  idsWithPrefix(prefix: string, type: BlobType): string[] {
    const lo = Buffer.from(prefix.padEnd(64, '0'), 'hex');
    const hi = Buffer.from(prefix.padEnd(64, 'f'), 'hex');
    return (this.db.prepare('SELECT id FROM blobs WHERE id >= ? AND id <= ? AND type = ?').pluck().all(lo, hi, type) as Buffer[])
      .map((b) => b.toString('hex'));
  }

  /** Stores `data` unless a blob with the same id exists; returns the id. */
  async put(type: BlobType, data: Uint8Array, knownId?: Buffer): Promise<Buffer> {
    const id = knownId ?? blake3(data);
    if (this.stored(id)) return id;
    if (!this.writer) {
      const threaded = this.bytesPut + this.coming >= THREAD_AFTER && this.bytesPut >= this.blobsPut * THREAD_MIN_AVG;
      this.writer = await PackWriter.create(this.tmpDir, threaded ? packThread() : null);
    }
    this.bytesPut += data.length;
    this.blobsPut++;
    this.writer.add(type, id, data);
    if (this.writer.size >= this.packTarget || this.writer.entries.length >= PACK_MAX_BLOBS) this.sealCurrent();
    return id;
  }

  /** `bytes` are about to be put (a file being stored): only decides where new packs are written. */
  expect(bytes: number): void {
    this.coming = bytes;
  }

  /** Seals and indexes the open pack, so everything put so far is durable and visible. */
  flush(): void {
    if (this.writer) this.sealCurrent();
    this.collect(0);
  }

  /** Drops the open pack (used when an operation fails half-way); packs already being
   *  sealed are durable, so they are waited for and indexed. */
  abort(): void {
    while (this.sealing.length) {
      try { this.collect(0); } catch { this.sealing.shift(); } // the failure being handled is the one to report
    }
    this.writer?.abort();
    this.writer = null;
  }

  private sealCurrent(): void {
    const w = this.writer!;
    this.writer = null;
    if (!w.entries.length) { w.abort(); return; }
    w.startSeal(this.packsDir);
    this.sealing.push(w);
    this.collect(MAX_SEALING);
  }

  /** Indexes the packs whose seal is done, waiting while more than `keep` are in flight. */
  private collect(keep: number): void {
    while (this.sealing.length) {
      const w = this.sealing[0]!;
      const sealed = w.finishSeal(this.packsDir, this.sealing.length > keep);
      if (!sealed) return;
      this.sealing.shift();
      this.indexPack(sealed);
    }
  }

  /** Waits for the seal of the pack holding `id`, if one is in flight (then it is indexed). */
  private settle(id: Buffer): void {
    const i = this.sealing.findIndex((w) => w.entries.has(id));
    if (i >= 0) this.collect(this.sealing.length - i - 1);
  }

  /** Rows go in in id order: a pack's ids are random, and 65,536 inserts in key order touch
   * each B-tree page of a large index once instead of one random page each. */
  indexPack(pack: SealedPack): void {
    const entries = pack.entries instanceof PackTable ? pack.entries.byId() : [...pack.entries].sort((a, b) => a.id.compare(b.id));
    this.db.transaction(() => {
      this.stmtInsertPack.run(pack.id, pack.size, pack.entries.length);
      const fresh = this.fresh;
      this.insertBlobs.run((function* () {
        for (const e of entries) {
          fresh?.add(e.id);
          yield [e.id, e.type, pack.id, e.offset, e.length];
        }
      })());
    })();
  }

  async get(id: Buffer | string): Promise<Buffer> {
    return this.getAt(typeof id === 'string' ? Buffer.from(id, 'hex') : id);
  }

  /** get() of `key`, at `known` when the caller located it already. */
  private async getAt(key: Buffer, known?: BlobLocation): Promise<Buffer> {
    const hex = key.toString('hex');
    this.settle(key);
    const pend = known ? undefined : this.writer?.entries.get(key);
    let data: Buffer;
    let verified = false;
    if (pend) {
      data = this.writer!.read(pend);
    } else {
      const loc = known ?? this.locate(key);
      if (!loc) throw new DvError(`object ${hex} is not in the store`, 1, 'MISSING');
      const reader: PackReader = this.reader ?? this.local;
      data = await reader.read(loc.pack, loc.offset, loc.length);
      if (reader.invalidate) {
        verified = data.length === loc.length && blake3(data).equals(key);
        if (!verified) {
          // A caching reader may hold a damaged copy: drop it and read the source once more.
          reader.invalidate(loc.pack, loc.offset, loc.length);
          data = await reader.read(loc.pack, loc.offset, loc.length);
        }
      }
      if (data.length !== loc.length) throw new CorruptionError(`object ${hex} in pack ${loc.pack} is truncated`);
    }
    if (!verified && !blake3(data).equals(key)) throw new CorruptionError(`object ${hex} is corrupt (hash mismatch)`);
    return data;
  }

  /**
   * Several blobs in order, each verified. Blobs stored back to back in one pack (the
   * chunks of a file usually are) are fetched with one read of at most `maxRun`
   * bytes, and come back as views into that one buffer.
   */
  async getMany(ids: Buffer[], maxRun = 4 << 20): Promise<Buffer[]> {
    const out: Buffer[] = [];
    // Each located once (undefined: pending in the open pack, or not in the store).
    const locs = ids.map((id): BlobLocation | undefined => {
      this.settle(id);
      return this.pending(id) ? undefined : this.locate(id);
    });
    for (let i = 0; i < ids.length;) {
      const first = locs[i];
      const run: BlobLocation[] = first ? [first] : [];
      let end = first ? first.offset + first.length : 0;
      while (first && i + run.length < ids.length && end - first.offset < maxRun) {
        const next = locs[i + run.length];
        if (!next || next.pack !== first.pack || next.offset !== end) break;
        run.push(next);
        end += next.length;
      }
      if (run.length < 2) {
        out.push(await this.getAt(ids[i]!, first));
        i++;
        continue;
      }
      const reader: PackReader = this.reader ?? this.local;
      const buf = await reader.read(first!.pack, first!.offset, end - first!.offset);
      for (const loc of run) {
        const id = ids[i++];
        const data = buf.subarray(loc.offset - first!.offset, loc.offset - first!.offset + loc.length);
        // A short or damaged run: the single-blob path re-reads, retries caches, reports.
        out.push(data.length === loc.length && blake3(data).equals(id) ? data : await this.get(id));
      }
    }
    return out;
  }

  close(): void {
    this.abort();
    this.local.close();
    this.reader?.close();
  }
}

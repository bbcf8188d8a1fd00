// A PackReader for packs that live elsewhere (dv serve --remote): byte ranges are
// fetched with ranged GETs and kept in a local cache with a size bound.
//
// Granularity: fixed blocks of a pack (1 MiB by default, aligned to pack offsets),
// one cache file per block. Whole packs (16-64 MiB) would make the first 1 MiB Range
// read of a cold proxy download 32 MiB; single blobs (64 KiB chunks) would cost one
// GET per chunk. The chunks of a file are written next to each other in a pack, so a
// block also brings the chunks a sequential reader wants next, and a miss that
// follows the previous block of the same pack triggers a short read-ahead.
// Eviction is LRU by block file, bounded in bytes; a block larger than the whole
// bound is served but not kept. Nothing here is trusted: BlobStore verifies every
// blob against its id and calls invalidate() on a mismatch, which drops the block.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { LocalPackReader, PackReader } from './blobstore.js';
import { CorruptionError } from './errors.js';
import { packPath } from './packwriter.js';

export const DEFAULT_BLOCK = 1 << 20;
const MEMORY_BLOCKS = 16;
const READ_AHEAD = 4;

export interface PackCacheOptions {
  /** Cache directory, e.g. `.dv/cache/packs` (created). */
  dir: string;
  /** Upper bound of the bytes kept in `dir`. */
  maxBytes: number;
  /** Bytes [start, start + length) of a pack from its source (a ranged GET). */
  fetch: (pack: string, start: number, length: number) => Promise<Buffer>;
  /** Size of a pack, to clamp its last block; undefined when unknown. */
  packSize: (pack: string) => number | undefined;
  blockSize?: number;
  /** Packs present locally are read from here instead (a partial clone). */
  local?: LocalPackReader;
  packsDir?: string;
}

export interface PackCacheStats {
  hits: number;
  misses: number;
  /** Bytes fetched from the source. */
  fetched: number;
  evicted: number;
  /** Bytes in the cache directory now. */
  cached: number;
}

export class PackCache implements PackReader {
  readonly blockSize: number;
  private readonly disk = new Map<string, number>(); // block key -> bytes, least recently used first
  private readonly memory = new Map<string, Buffer>();
  private readonly inflight = new Map<string, Promise<Buffer>>();
  private readonly isLocal = new Map<string, boolean>();
  private readonly lastBlock = new Map<string, number>();
  private total = 0;
  readonly stats: PackCacheStats = { hits: 0, misses: 0, fetched: 0, evicted: 0, cached: 0 };

  constructor(private readonly opts: PackCacheOptions) {
    this.blockSize = opts.blockSize ?? DEFAULT_BLOCK;
    fs.mkdirSync(opts.dir, { recursive: true });
    this.scan();
  }

  /** Blocks left by an earlier run count against the bound, oldest first. */
  private scan(): void {
    const found: { key: string; size: number; mtime: number }[] = [];
    for (const sub of fs.readdirSync(this.opts.dir)) {
      const d = path.join(this.opts.dir, sub);
      if (!fs.statSync(d).isDirectory()) continue;
      for (const name of fs.readdirSync(d)) {
        const full = path.join(d, name);
        if (name.endsWith('.tmp')) { fs.rmSync(full, { force: true }); continue; }
        if (!/^[0-9a-f]{64}\.\d+$/.test(name)) continue;
        const st = fs.statSync(full);
        found.push({ key: name, size: st.size, mtime: st.mtimeMs });
      }
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) { this.disk.set(f.key, f.size); this.total += f.size; }
    this.evict(0);
  }

  private file(key: string): string {
    return path.join(this.opts.dir, key.slice(0, 2), key);
  }

  async read(pack: string, offset: number, length: number): Promise<Buffer> {
    if (this.local(pack)) {
      try {
        return this.opts.local!.readSync(pack, offset, length);
      } catch (e) {
        if (!(e instanceof CorruptionError)) throw e;
        this.isLocal.set(pack, false); // deleted since: fall back to the source
      }
    }
    if (length === 0) return Buffer.alloc(0);
    const B = this.blockSize;
    const first = Math.floor(offset / B);
    const last = Math.floor((offset + length - 1) / B);
    const parts: Buffer[] = [];
    for (let b = first; b <= last; b++) {
      const block = await this.block(pack, b);
      const from = b === first ? offset - b * B : 0;
      const to = Math.min(block.length, offset + length - b * B);
      if (to <= from) break; // past the end of the pack: the caller sees a short read
      parts.push(block.subarray(from, to));
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  invalidate(pack: string, offset: number, length: number): void {
    const B = this.blockSize;
    for (let b = Math.floor(offset / B); b <= Math.floor((offset + Math.max(length, 1) - 1) / B); b++) {
      const key = `${pack}.${b}`;
      this.memory.delete(key);
      this.drop(key);
    }
  }

  close(): void {
    this.memory.clear();
    this.opts.local?.close();
  }

  private local(pack: string): boolean {
    if (!this.opts.local || !this.opts.packsDir) return false;
    let v = this.isLocal.get(pack);
    if (v === undefined) {
      v = fs.existsSync(packPath(this.opts.packsDir, pack));
      this.isLocal.set(pack, v);
    }
    return v;
  }

  private async block(pack: string, b: number): Promise<Buffer> {
    const key = `${pack}.${b}`;
    if (this.lastBlock.get(pack) === b - 1) this.readAhead(pack, b);
    this.lastBlock.set(pack, b);
    const mem = this.memory.get(key);
    if (mem) {
      this.memory.delete(key);
      this.memory.set(key, mem);
      this.stats.hits++;
      return mem;
    }
    return this.load(pack, b, key);
  }

  /** A sequential reader will want the next blocks: start fetching them now. */
  private readAhead(pack: string, b: number): void {
    for (let i = 1; i <= READ_AHEAD; i++) {
      const key = `${pack}.${b + i}`;
      if (!this.memory.has(key) && !this.inflight.has(key)) this.load(pack, b + i, key).catch(() => undefined);
    }
  }

  private load(pack: string, b: number, key: string): Promise<Buffer> {
    let p = this.inflight.get(key);
    if (!p) {
      p = this.loadUncached(pack, b, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async loadUncached(pack: string, b: number, key: string): Promise<Buffer> {
    const mem = this.memory.get(key);
    if (mem) return mem;
    let data: Buffer | null = null;
    if (this.disk.has(key)) {
      try {
        data = await fs.promises.readFile(this.file(key));
        this.disk.delete(key);
        this.disk.set(key, data.length);
        this.stats.hits++;
      } catch {
        this.drop(key); // evicted by another process sharing the directory
      }
    }
    if (!data) {
      const start = b * this.blockSize;
      const size = this.opts.packSize(pack);
      const length = size === undefined ? this.blockSize : Math.min(this.blockSize, size - start);
      if (length <= 0) return Buffer.alloc(0);
      data = await this.opts.fetch(pack, start, length);
      this.stats.misses++;
      this.stats.fetched += data.length;
      this.store(key, data);
    }
    this.memory.set(key, data);
    while (this.memory.size > MEMORY_BLOCKS) this.memory.delete(this.memory.keys().next().value as string);
    return data;
  }

  private store(key: string, data: Buffer): void {
    if (data.length > this.opts.maxBytes) return;
    this.evict(data.length);
    const file = this.file(key);
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(tmp, data);
      fs.renameSync(tmp, file);
    } catch {
      fs.rmSync(tmp, { force: true }); // a full disk costs cache hits, not requests
      return;
    }
    this.disk.set(key, data.length);
    this.total += data.length;
    this.stats.cached = this.total;
  }

  /** Makes room for `incoming` bytes, least recently used first. */
  private evict(incoming: number): void {
    for (const key of this.disk.keys()) {
      if (this.total + incoming <= this.opts.maxBytes) break;
      this.drop(key);
      this.stats.evicted++;
    }
    this.stats.cached = this.total;
  }

  private drop(key: string): void {
    const size = this.disk.get(key);
    if (size === undefined) return;
    this.disk.delete(key);
    this.total -= size;
    this.stats.cached = this.total;
    fs.rmSync(this.file(key), { force: true });
  }
}

// Appends blobs to a pack in .dv/tmp; finish() seals it (table, fsync) and renames it
// into packs/ under its content hash. Until then nothing refers to it.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { createHasher, type Hasher } from './hash.js';
import { encodeTable, PACK_MAGIC, type BlobType, type PackEntry } from './packfile.js';
import { fsyncDir } from './fsutil.js';

const WRITE_BUFFER = 4 << 20;

export interface SealedPack {
  id: string;
  size: number;
  entries: PackEntry[];
}

export function packPath(packsDir: string, id: string): string {
  return path.join(packsDir, id.slice(0, 2), `${id}.pack`);
}

export class PackWriter {
  readonly entries: PackEntry[] = [];
  private fd: number;
  private buf = Buffer.allocUnsafe(WRITE_BUFFER);
  private buffered = 0;
  private written = 0;

  private constructor(readonly tmpPath: string, private hasher: Hasher) {
    this.fd = fs.openSync(tmpPath, 'w');
    this.append(PACK_MAGIC);
  }

  static async create(tmpDir: string): Promise<PackWriter> {
    const tmp = path.join(tmpDir, `pack-${process.pid}-${crypto.randomBytes(6).toString('hex')}.tmp`);
    return new PackWriter(tmp, await createHasher());
  }

  get size(): number {
    return this.written + this.buffered;
  }

  /** Adds a blob; `id` must be the BLAKE3 of `data` (callers already computed it). */
  add(type: BlobType, id: Buffer, data: Uint8Array): PackEntry {
    const entry = { type, id, offset: this.size, length: data.length };
    this.append(data);
    this.entries.push(entry);
    return entry;
  }

  /** Reads back a blob not yet sealed (a file may reference a chunk written moments ago). */
  read(entry: PackEntry): Buffer {
    const out = Buffer.allocUnsafe(entry.length);
    const flushedPart = Math.max(0, Math.min(entry.length, this.written - entry.offset));
    if (flushedPart > 0) fs.readSync(this.fd, out, 0, flushedPart, entry.offset);
    if (flushedPart < entry.length) {
      const from = entry.offset + flushedPart - this.written;
      this.buf.copy(out, flushedPart, from, from + entry.length - flushedPart);
    }
    return out;
  }

  private append(data: Uint8Array): void {
    if (this.buffered + data.length > this.buf.length) this.flushBuffer();
    if (data.length >= this.buf.length) {
      this.writeRaw(data);
      return;
    }
    this.buf.set(data, this.buffered);
    this.buffered += data.length;
  }

  private flushBuffer(): void {
    if (this.buffered === 0) return;
    this.writeRaw(this.buf.subarray(0, this.buffered));
    this.buffered = 0;
  }

  private writeRaw(data: Uint8Array): void {
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off, this.written + off);
    this.hasher.update(data);
    this.written += data.length;
  }

  seal(packsDir: string): SealedPack {
    this.append(encodeTable(this.entries));
    this.flushBuffer();
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    const id = this.hasher.digestHex();
    const dest = packPath(packsDir, id);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.renameSync(this.tmpPath, dest);
    fsyncDir(path.dirname(dest));
    return { id, size: this.written, entries: this.entries };
  }

  abort(): void {
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
    fs.rmSync(this.tmpPath, { force: true });
  }
}

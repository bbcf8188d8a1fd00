// Appends blobs to a pack in .dv/tmp; seal() seals it (table, fsync) and renames it
// into packs/ under its content hash. Until then nothing refers to it. Given a PackThread
// (pack-thread.ts), the writes, the pack hash and the seal run on that thread instead:
// startSeal() returns at once and finishSeal() collects the outcome.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { createHasher, type Hasher } from './hash.js';
import { PACK_MAGIC, tableWithFooter, type BlobType, type PackEntry } from './packfile.js';
import { PackTable, type PackEntries } from './pack-table.js';
import { fsyncDir } from './fsutil.js';
import { DvError } from './errors.js';
import { copyInto } from './native-copy.js';
import type { PackThread } from './pack-thread.js';

const WRITE_BUFFER = 4 << 20;

export interface SealedPack {
  id: string;
  size: number;
  entries: PackEntries;
}

export function packPath(packsDir: string, id: string): string {
  return path.join(packsDir, id.slice(0, 2), `${id}.pack`);
}

export class PackWriter {
  /** The blobs added so far, in the pack table's own compact layout. */
  readonly entries = new PackTable();
  private fd: number;
  private buf: Buffer;
  private buffered = 0;
  private written = 0;
  private readonly handle: number;

  private constructor(readonly tmpPath: string, private hasher: Hasher | null, private thread: PackThread | null) {
    this.fd = fs.openSync(tmpPath, 'w');
    this.handle = thread ? thread.open(tmpPath) : 0; // this.fd then only serves read()
    this.buf = thread ? thread.buffer() : Buffer.allocUnsafe(WRITE_BUFFER);
    this.append(PACK_MAGIC);
  }

  static async create(tmpDir: string, thread: PackThread | null = null): Promise<PackWriter> {
    const tmp = path.join(tmpDir, `pack-${process.pid}-${crypto.randomBytes(6).toString('hex')}.tmp`);
    return new PackWriter(tmp, thread ? null : await createHasher(), thread);
  }

  get size(): number {
    return this.written + this.buffered;
  }

  /** Adds a blob; `id` must be the BLAKE3 of `data` (callers already computed it). */
  add(type: BlobType, id: Buffer, data: Uint8Array): void {
    this.entries.add(type, id, this.size, data.length);
    this.append(data);
  }

  /** Reads back a blob not yet sealed (a file may reference a chunk written moments ago). */
  read(entry: PackEntry): Buffer {
    this.thread?.settle(this.handle);
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
    if (this.thread) {
      // Buffers go to the thread whole: copy into them piece by piece.
      for (let off = 0; off < data.length;) {
        const n = Math.min(this.buf.length - this.buffered, data.length - off);
        copyInto(this.buf, this.buffered, off === 0 && n === data.length ? data : data.subarray(off, off + n));
        this.buffered += n;
        off += n;
        if (this.buffered === this.buf.length) this.flushBuffer();
      }
      return;
    }
    if (this.buffered + data.length > this.buf.length) this.flushBuffer();
    if (data.length >= this.buf.length) {
      this.writeRaw(data);
      return;
    }
    copyInto(this.buf, this.buffered, data);
    this.buffered += data.length;
  }

  private flushBuffer(last = false): void {
    if (this.buffered === 0) return;
    if (this.thread) {
      this.thread.write(this.handle, this.buf, this.buffered, this.written);
      this.written += this.buffered;
      this.buffered = 0;
      this.buf = last ? Buffer.alloc(0) : this.thread.buffer();
      return;
    }
    this.writeRaw(this.buf.subarray(0, this.buffered));
    this.buffered = 0;
  }

  private writeRaw(data: Uint8Array): void {
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off, this.written + off);
    this.hasher!.update(data);
    this.written += data.length;
  }

  /** Seals on the pack thread when there is one: finishSeal() then waits for the outcome. */
  startSeal(packsDir: string): void {
    this.append(tableWithFooter(this.entries.bytes()));
    if (!this.thread) return;
    this.flushBuffer(true);
    if (this.buf.length) { this.thread.release(this.buf); this.buf = Buffer.alloc(0); }
    this.thread.seal(this.handle, this.tmpPath, packsDir);
  }

  /** The sealed pack (durable and renamed), or null while the thread is still at it and `wait` is false. */
  finishSeal(packsDir: string, wait = true): SealedPack | null {
    if (this.thread) {
      const r = this.thread.result(this.handle, wait);
      if (!r) return null;
      fs.closeSync(this.fd);
      if ('error' in r) throw new DvError(`cannot write pack ${this.tmpPath}: ${r.error}`);
      return { id: r.id, size: this.written, entries: this.entries };
    }
    return this.sealHere(packsDir);
  }

  seal(packsDir: string): SealedPack {
    this.startSeal(packsDir);
    return this.finishSeal(packsDir)!;
  }

  private sealHere(packsDir: string): SealedPack {
    this.flushBuffer();
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    const id = this.hasher!.digestHex();
    const dest = packPath(packsDir, id);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.renameSync(this.tmpPath, dest);
    fsyncDir(path.dirname(dest));
    return { id, size: this.written, entries: this.entries };
  }

  abort(): void {
    if (this.thread) {
      if (this.buf.length) this.thread.release(this.buf);
      this.thread.abort(this.handle, this.tmpPath);
      try { fs.closeSync(this.fd); } catch { /* already closed */ }
      return;
    }
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
    fs.rmSync(this.tmpPath, { force: true });
  }
}

// Cuts content into chunks and stores them; returns the file's chunk list and checksum.
// Files are read through two reusable shared buffers in turn, so memory stays flat for
// any file size. The MD5 of the content (the S3 ETag, see etags.ts) is computed from the
// same reads (on another thread for large files, md5.ts, straight from the shared buffer:
// a buffer is refilled only once that thread is done with it) and handed to `onStored`,
// so no file is ever read twice for it; that thread also hashes a large file's checksum.
// A file is read in after the previous one in the same buffer: the ingest turns to the
// other buffer (and may wait for the MD5 thread) once per buffer, not once per file.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { chunkStream, cut, type ChunkerParams } from '../store/chunker.js';
import { BlobType } from '../store/packfile.js';
import type { BlobStore } from '../store/blobstore.js';
import { blake3, createHasher, type Hasher } from '../store/hash.js';
import { md5Job, md5Settle, NO_MD5 } from './md5.js';
import { ops } from './opcount.js';
import { isLink, type ChunkRef, type IngestedFile, type StoredFile } from './types.js';

const READ_BYTES = 16 << 20;
/** Bytes read at a time: chunked and hashed while still in the core's cache (a 16 MiB
 * read would leave them for DRAM before the chunker, the hash and the pack copy come). */
const READ_STEP = 512 << 10;

export interface IngestorOptions {
  /** Bytes read so far, for progress. */
  onBytes?: (n: number) => void;
  /** Each stored file's content hash and MD5 (where one was computed). */
  onStored?: (hash: string, md5: string) => void;
  /** storeFile hashes no MD5 for a file smaller than this (nor reports one to `onStored`):
   * its ETag is computed on first need. */
  md5From?: number;
}

export class Ingestor {
  private bufs: Buffer[] = [];
  /** Per buffer, what to pass md5Settle before refilling it. */
  private seqs = [0, 0];
  private cur = 0;
  /** Where the last file read into the current buffer ended: the next one is read from there. */
  private pos = 0;

  private readonly onBytes?: (n: number) => void;
  private readonly onStored?: (hash: string, md5: string) => void;
  private readonly md5From: number;

  constructor(private store: BlobStore, private params: ChunkerParams, opts: IngestorOptions = {}) {
    this.onBytes = opts.onBytes;
    this.onStored = opts.onStored;
    this.md5From = opts.md5From ?? 0;
  }

  /** The other buffer, once the MD5 thread is done with it, holding buf[start, end) at its start. */
  private swap(buf: Buffer | undefined, start: number, end: number): Buffer {
    const size = Math.max(READ_BYTES, this.params.max * 2);
    this.cur ^= 1;
    this.bufs[this.cur] ??= Buffer.from(new SharedArrayBuffer(size));
    md5Settle(this.seqs[this.cur]!);
    const next = this.bufs[this.cur]!;
    if (buf && end > start) buf.copy(next, 0, start, end);
    return next;
  }

  /** Stores a workspace file; a symlink (`mode` MODE_LINK) as its target text. */
  /** `sizeHint` (the scan's size) spares an fstat; it only decides where the MD5 runs. */
  async storeFile(absPath: string, mode?: number, sizeHint?: number): Promise<StoredFile> {
    ops.filesStored++;
    if (mode !== undefined && isLink(mode)) return this.storeStream(Readable.from([fs.readlinkSync(absPath, { encoding: 'buffer' })]));
    const fd = fs.openSync(absPath, 'r');
    try {
      const chunks: ChunkRef[] = [];
      // Most files are one chunk, whose id is the file's checksum (done). Else the file's
      // bytes from buffer offset `base` on are hashed in one call once cut (still in the
      // cache, and no copy): a streaming hasher starts only if the file outgrows a buffer.
      let hasher: Hasher | null = null;
      const max = this.params.max;
      const expect = sizeHint ?? fs.fstatSync(fd).size;
      const md5 = expect < this.md5From ? NO_MD5 : md5Job(expect, expect > max);
      this.store.expect(expect);
      let buf = this.bufs[this.cur];
      let start = this.pos;
      let end = start;
      let base = start;
      let eof = false;
      let size = 0;
      let got = 0;
      for (;;) {
        if (!eof && end - start < max) {
          // Bytes before `end` may still be read by the MD5 thread: never read over them.
          if (!buf || buf.length - end < READ_STEP) {
            if (start > base && !md5.blake3) (hasher ??= await createHasher()).update(buf!.subarray(base, start));
            buf = this.swap(buf, start, end);
            end -= start;
            start = base = 0;
          }
          while (!eof && end - start < max && end < buf.length) {
            const want = Math.min(READ_STEP, buf.length - end);
            const n = fs.readSync(fd, buf, end, want, null);
            got += n;
            // A short read of a regular file ends at its end: when that is the size the
            // scan saw, the read that would return 0 is spared (one syscall per small file).
            if (n === 0 || (n < want && got === expect)) eof = true;
            const seq = n > 0 ? md5.update(buf.subarray(end, end + n)) : 0;
            if (seq) this.seqs[this.cur] = seq; // 0: copied (the buffer's last sequence number still holds)
            end += n;
            this.onBytes?.(n);
          }
        }
        if (start === end) break;
        const len = cut(buf!, start, end, this.params);
        const chunk = buf!.subarray(start, start + len);
        chunks.push(await this.putChunk(chunk));
        size += len;
        start += len;
      }
      this.pos = end;
      if (md5.blake3) {
        const { md5: _md5, ...stored } = this.done(size, chunks, await md5.blake3(), await md5.digest());
        return stored;
      }
      // The MD5 is not part of the result: record it when the thread has it, go on now
      // (etags.ts drains the jobs before it writes its records).
      const rest = buf!.subarray(base, start);
      const hash = chunks.length === 1 && !hasher ? chunks[0][0] : hasher ? hasher.update(rest).digestHex() : blake3(rest).toString('hex');
      md5.later((m) => this.onStored?.(hash, m));
      return { size, hash, chunks };
    } finally {
      fs.closeSync(fd);
    }
  }

  async storeStream(source: Readable | AsyncIterable<Uint8Array>): Promise<IngestedFile> {
    const chunks: ChunkRef[] = [];
    const hasher = await createHasher();
    const md5 = createHash('md5');
    let size = 0;
    for await (const chunk of chunkStream(source as AsyncIterable<Uint8Array>, this.params)) {
      chunks.push(await this.putChunk(chunk));
      hasher.update(chunk);
      md5.update(chunk);
      size += chunk.length;
      this.onBytes?.(chunk.length);
    }
    return this.done(size, chunks, hasher.digestHex(), md5.digest('hex'));
  }

  /** A single-chunk file's checksum is its chunk id (the same BLAKE3 of the same bytes). */
  private done(size: number, chunks: ChunkRef[], whole: string, md5: string): IngestedFile {
    const hash = chunks.length === 1 ? chunks[0][0] : whole;
    this.onStored?.(hash, md5);
    return { size, hash, chunks, md5 };
  }

  private async putChunk(chunk: Buffer): Promise<ChunkRef> {
    const id = blake3(chunk);
    await this.store.put(BlobType.Chunk, chunk, id);
    return [id.toString('hex'), chunk.length];
  }
}

// Cuts content into chunks and stores them; returns the file's chunk list and checksum.
// Files are read through one reusable buffer, so memory stays flat for any file size.
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { chunkStream, cut, type ChunkerParams } from '../store/chunker.js';
import { BlobType } from '../store/packfile.js';
import type { BlobStore } from '../store/blobstore.js';
import { blake3, createHasher } from '../store/hash.js';
import { isLink, type ChunkRef, type StoredFile } from './types.js';

const READ_BYTES = 8 << 20;

export class Ingestor {
  private buf: Buffer;

  constructor(private store: BlobStore, private params: ChunkerParams, private onBytes?: (n: number) => void) {
    this.buf = Buffer.allocUnsafe(Math.max(READ_BYTES, params.max * 2));
  }

  /** Stores a workspace file; a symlink (`mode` MODE_LINK) as its target text. */
  async storeFile(absPath: string, mode?: number): Promise<StoredFile> {
    if (mode !== undefined && isLink(mode)) return this.storeStream(Readable.from([fs.readlinkSync(absPath, { encoding: 'buffer' })]));
    const fd = fs.openSync(absPath, 'r');
    try {
      const chunks: ChunkRef[] = [];
      const hasher = await createHasher();
      const { buf } = this;
      const max = this.params.max;
      let start = 0;
      let end = 0;
      let eof = false;
      let size = 0;
      for (;;) {
        if (!eof && end - start < max) {
          if (start > 0) { buf.copy(buf, 0, start, end); end -= start; start = 0; }
          while (!eof && end < buf.length) {
            const n = fs.readSync(fd, buf, end, buf.length - end, null);
            if (n === 0) eof = true;
            end += n;
            this.onBytes?.(n);
          }
        }
        if (start === end) break;
        const len = cut(buf, start, end, this.params);
        const chunk = buf.subarray(start, start + len);
        chunks.push(await this.putChunk(chunk));
        hasher.update(chunk);
        size += len;
        start += len;
      }
      return { size, hash: chunks.length === 1 ? chunks[0][0] : hasher.digestHex(), chunks };
    } finally {
      fs.closeSync(fd);
    }
  }

  async storeStream(source: Readable | AsyncIterable<Uint8Array>): Promise<StoredFile> {
    const chunks: ChunkRef[] = [];
    const hasher = await createHasher();
    let size = 0;
    for await (const chunk of chunkStream(source as AsyncIterable<Uint8Array>, this.params)) {
      chunks.push(await this.putChunk(chunk));
      hasher.update(chunk);
      size += chunk.length;
      this.onBytes?.(chunk.length);
    }
    return { size, hash: chunks.length === 1 ? chunks[0][0] : hasher.digestHex(), chunks };
  }

  private async putChunk(chunk: Buffer): Promise<ChunkRef> {
    const id = blake3(chunk);
    await this.store.put(BlobType.Chunk, chunk, id);
    return [id.toString('hex'), chunk.length];
  }
}

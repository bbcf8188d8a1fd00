// Streaming bytes [start, end) of a stored file for servers (dv serve): only the chunks
// that overlap the range are read (binary search over chunk offsets), as in
// fileio.readRange, but in batches: the chunks of a file are usually stored back to
// back in one pack, so a batch is one read, and what it yields is one buffer (views
// of the read, no copy) instead of one 64 KiB piece per chunk. Fewer reads and
// fewer, larger socket writes are what let a proxy keep up with a plain file server.
import { Readable } from 'node:stream';
import type { BlobStore } from '../store/blobstore.js';
import { CorruptionError } from '../store/errors.js';
import { chunkAt, chunkOffsets } from './fileio.js';
import type { StoredFile } from './types.js';

export const BATCH_BYTES = 1 << 20;

/** Joins views that sit next to each other in one underlying buffer; copies otherwise. */
function join(parts: Buffer[]): Buffer {
  if (parts.length === 1) return parts[0]!;
  let adjacent = true;
  for (let i = 1; i < parts.length && adjacent; i++) {
    const a = parts[i - 1]!;
    const b = parts[i]!;
    adjacent = a.buffer === b.buffer && a.byteOffset + a.length === b.byteOffset;
  }
  if (!adjacent) return Buffer.concat(parts);
  const total = parts.reduce((n, p) => n + p.length, 0);
  return Buffer.from(parts[0]!.buffer, parts[0]!.byteOffset, total);
}

export async function* readRangeBatched(store: BlobStore, file: StoredFile, start = 0, end = file.size,
  batchBytes = BATCH_BYTES): AsyncGenerator<Buffer> {
  if (start >= end) return;
  const offsets = chunkOffsets(file.chunks);
  let i = chunkAt(offsets, start);
  while (i < file.chunks.length && offsets[i]! < end) {
    let j = i;
    let bytes = 0;
    while (j < file.chunks.length && offsets[j]! < end && (j === i || bytes + file.chunks[j]![1] <= batchBytes)) {
      bytes += file.chunks[j]![1];
      j++;
    }
    const ids = file.chunks.slice(i, j).map(([id]) => Buffer.from(id, 'hex'));
    const datas = await store.getMany(ids);
    const parts: Buffer[] = [];
    for (let k = 0; k < datas.length; k++) {
      const [id, len] = file.chunks[i + k]!;
      const data = datas[k]!;
      if (data.length !== len) throw new CorruptionError(`chunk ${id} has length ${data.length}, expected ${len}`);
      const from = Math.max(0, start - offsets[i + k]!);
      const to = Math.min(len, end - offsets[i + k]!);
      parts.push(from === 0 && to === len ? data : data.subarray(from, to));
    }
    yield join(parts);
    i = j;
  }
}

export function openRange(store: BlobStore, file: StoredFile, start?: number, end?: number): Readable {
  return Readable.from(readRangeBatched(store, file, start, end), { objectMode: false });
}

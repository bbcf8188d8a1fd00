// Reading stored files: ranged streams (for cat, export, the S3 proxy; the one ranged
// reader of the repository) and durable restores into the workspace (temp file,
// fsync, rename).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import type { BlobStore } from '../store/blobstore.js';
import { CorruptionError, DvError } from '../store/errors.js';
import { tempName } from '../store/fsutil.js';
import { partitionPoint } from '../store/sorted.js';
import { isLink, type ChunkRef, type StoredFile } from './types.js';

/** Index of the chunk containing byte `pos`, by binary search over chunk offsets. */
export function chunkAt(offsets: number[], pos: number): number {
  return partitionPoint(1, offsets.length, (i) => offsets[i]! <= pos) - 1; // offsets[0] is 0
}

export function chunkOffsets(chunks: ChunkRef[]): number[] {
  const out = new Array<number>(chunks.length);
  let off = 0;
  for (let i = 0; i < chunks.length; i++) { out[i] = off; off += chunks[i][1]; }
  return out;
}

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

/**
 * Yields the bytes [start, end) of a stored file, fetching only the chunks that overlap
 * (binary search over chunk offsets), verified, in batches of up to `batchBytes`: the
 * chunks of a file usually sit back to back in one pack, so a batch is one read and
 * what it yields is one buffer (views of the read, no copy). Fewer reads and fewer,
 * larger socket writes are what let dv serve keep up with a plain file server.
 */
export async function* readRange(store: BlobStore, file: StoredFile, start = 0, end = file.size,
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
    const datas = await store.getMany(file.chunks.slice(i, j).map(([id]) => Buffer.from(id, 'hex')));
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

export function openFile(store: BlobStore, file: StoredFile, start?: number, end?: number): Readable {
  return Readable.from(readRange(store, file, start, end), { objectMode: false });
}

/** The temp file a restore writes first: in .dv/tmp when that is on the same filesystem,
 * so a killed restore leaves nothing in the workspace (only .dv/tmp garbage that gc
 * removes); next to `dest` otherwise, as rename cannot cross filesystems. */
function restoreTemp(store: BlobStore, dest: string): string {
  try {
    if (fs.statSync(store.tmpDir).dev === fs.statSync(path.dirname(dest)).dev) {
      return path.join(store.tmpDir, `restore-${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
    }
  } catch { /* no .dv/tmp: fall back */ }
  return tempName(dest);
}

/** Writes a stored file to `dest` atomically; corrupt data never reaches the workspace. */
export async function restoreFile(store: BlobStore, file: StoredFile, dest: string, mode: number, label = dest): Promise<void> {
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = restoreTemp(store, dest);
  if (isLink(mode)) return restoreLink(store, file, tmp, dest, label);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    let pos = 0;
    for await (const part of readRange(store, file)) {
      let off = 0;
      while (off < part.length) off += fs.writeSync(fd, part, off, part.length - off, pos + off);
      pos += part.length;
    }
    // Asynchronous, so that a checkout's concurrent restores share journal commits.
    await fsyncAsync(fd);
    fs.closeSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    if (e instanceof DvError) throw new DvError(`cannot restore ${label}: ${e.message}`, e.exitCode, e.code);
    throw e;
  }
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, dest);
}

const fsyncAsync = promisify(fs.fsync);

/** A symlink is made under a temporary name and renamed over `dest` (which replaces a
 * link at `dest` itself, never anything it points to). */
async function restoreLink(store: BlobStore, file: StoredFile, tmp: string, dest: string, label: string): Promise<void> {
  const parts: Buffer[] = [];
  try {
    for await (const part of readRange(store, file)) parts.push(part);
  } catch (e) {
    if (e instanceof DvError) throw new DvError(`cannot restore ${label}: ${e.message}`, e.exitCode, e.code);
    throw e;
  }
  fs.symlinkSync(Buffer.concat(parts), tmp);
  fs.renameSync(tmp, dest);
}


// Reading stored files: ranged streams (for cat, export, the S3 proxy) and durable
// restores into the workspace (temp file, fsync, rename).
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

/** Yields the bytes [start, end) of a stored file, fetching only the chunks that overlap. */
export async function* readRange(store: BlobStore, file: StoredFile, start = 0, end = file.size): AsyncGenerator<Buffer> {
  if (start >= end) return;
  const offsets = chunkOffsets(file.chunks);
  for (let i = chunkAt(offsets, start); i < file.chunks.length && offsets[i] < end; i++) {
    const [id, len] = file.chunks[i];
    const data = await store.get(id);
    if (data.length !== len) throw new CorruptionError(`chunk ${id} has length ${data.length}, expected ${len}`);
    const from = Math.max(0, start - offsets[i]);
    const to = Math.min(len, end - offsets[i]);
    yield from === 0 && to === len ? data : data.subarray(from, to);
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


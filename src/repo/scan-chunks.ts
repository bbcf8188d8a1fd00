// A scan cut into content-defined chunks of ~256 files (a chunk ends after a file whose
// path hashes to 0 mod 256), each with a fingerprint of its (path, size, mtime, inode,
// mode) tuples. The stat cache remembers the fingerprints of chunks whose every file
// had a fresh row (statcache.ts), so after one file changes among 1,000,000 a status
// probes the ~256 files of its chunk instead of every file: the cut depends only on
// the paths near it, so a change, a new or a deleted file moves one or two cuts.
import { blake3 } from '../store/hash.js';
import { partitionPoint } from '../store/sorted.js';
import { pathBytes, type PackedScan } from './native-scan.js';

/** About this many files a chunk (a power of two). */
const AVERAGE = 256;
/** Bytes of a stored chunk: a 16-byte fingerprint and a u32 file count. */
export const CHUNK_BYTES = 20;

export interface ScanChunk {
  /** Hex fingerprint of the chunk's tuples. */
  id: string;
  /** Its files are scan entries first .. end-1. */
  first: number;
  end: number;
  /** Their paths, in scan order. */
  paths(): string[];
}

export interface ScanChunks {
  list: ScanChunk[];
  /** The chunk holding `path`, if the scan has it. */
  chunkOf(path: string): ScanChunk | undefined;
}

/** The scan's chunks, in scan order, covering every file once. */
export function chunkScan(p: PackedScan): ScanChunks {
  const out: ScanChunk[] = [];
  const ends: number[] = []; // byte offset just past each chunk's last path
  if (p.count === 0) return { list: out, chunkOf: () => undefined };
  const names = pathBytes(p);
  const nums = Buffer.from(p.nums.buffer, p.nums.byteOffset, p.nums.byteLength);
  let first = 0;
  let from = 0; // byte offset of file `first`'s path
  let at = 0; // byte offset of file i's path
  for (let i = 0; i < p.count; i++) {
    let end = names.indexOf(0, at);
    if (end < 0) end = names.length;
    let h = 0x811c9dc5;
    for (let k = at; k < end; k++) h = Math.imul(h ^ names[k]!, 0x01000193);
    if (((h >>> 0) & (AVERAGE - 1)) === 0 || i === p.count - 1) {
      const id = blake3(Buffer.concat([names.subarray(from, end), nums.subarray(first * 32, (i + 1) * 32)])).toString('hex', 0, 16);
      const [a, b] = [from, end];
      out.push({ id, first, end: i + 1, paths: () => names.toString('utf8', a, b).split('\0') });
      ends.push(end);
      first = i + 1;
      from = end + 1;
    }
    at = end + 1;
  }
  const chunkOf = (path: string): ScanChunk | undefined => {
    const needle = Buffer.from(path, 'utf8');
    for (let at = names.indexOf(needle); at >= 0; at = names.indexOf(needle, at + 1)) {
      const after = at + needle.length;
      if ((at === 0 || names[at - 1] === 0) && (after === names.length || names[after] === 0)) {
        return out[partitionPoint(0, ends.length, (k) => ends[k]! < at)];
      }
    }
    return undefined;
  };
  return { list: out, chunkOf };
}

/** Stored form of chunk fingerprints with their file counts. */
export function encodeChunks(chunks: Map<string, number>): Buffer {
  const buf = Buffer.alloc(chunks.size * CHUNK_BYTES);
  let o = 0;
  for (const [id, files] of chunks) {
    buf.write(id, o, 16, 'hex');
    buf.writeUInt32LE(files, o + 16);
    o += CHUNK_BYTES;
  }
  return buf;
}

export function decodeChunks(buf: Buffer | null | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (!buf) return out;
  for (let o = 0; o + CHUNK_BYTES <= buf.length; o += CHUNK_BYTES) out.set(buf.toString('hex', o, o + 16), buf.readUInt32LE(o + 16));
  return out;
}

// What changed in the workspace since HEAD, when the stat cache mirrors HEAD's tree
// (its rows are exactly HEAD's files, with their hashes): then a file with no row is
// new, a row with no file is deleted, and only files whose stat changed are read. No
// tree is read and no per-file entry of HEAD is built. The scan is cut into chunks
// (scan-chunks.ts): a chunk the stat cache vouches for is skipped whole, so after one
// change among 1,000,000 files only that file's chunk is looked up, and the cost is the
// scan's one stat per file plus the change, as with git's index.
import path from 'node:path';
import { ops } from './opcount.js';
import { RACY_MS } from './stat-record.js';
import type { ScanResult, WsFile } from './scan.js';
import { chunkScan } from './scan-chunks.js';
import { hashFile, type StatCache } from './workspace.js';

export interface MirrorDiff {
  added: WsFile[];
  /** Files whose content or mode differs from their row (HEAD's version). */
  modified: WsFile[];
  deleted: string[];
  /** Files whose stat changed but whose content and mode are HEAD's: rows to refresh. */
  refreshed: { file: WsFile; hash: string }[];
  /** The scan's chunks: each with the files that lacked a fresh row (none for a chunk
   * vouched for, or whose files all had one). See chunksAfter. */
  chunks: ChunkState[];
  chunkOf(path: string): ChunkState | undefined;
}

export interface ChunkState { id: string; files: number; needs: WsFile[] }

export const isClean = (d: MirrorDiff): boolean => !d.added.length && !d.modified.length && !d.deleted.length;

const byPath = (a: WsFile, b: WsFile): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Call only when `cache.mirrors(HEAD's tree)` and `scan` covers every tracked path. */
export async function diffAgainstMirror(root: string, cache: StatCache, scan: ScanResult): Promise<MirrorDiff> {
  const packed = scan.packed();
  const { nums } = packed;
  const marks = cache.chunkMarks();
  const cut = chunkScan(packed);
  const states = new Map<string, ChunkState>();
  const out: MirrorDiff = { added: [], modified: [], deleted: [], refreshed: [], chunks: [], chunkOf: (p) => states.get(cut.chunkOf(p)?.id ?? '') };
  let withRow = 0;
  for (const c of cut.list) {
    const files = c.end - c.first;
    const needs: WsFile[] = [];
    out.chunks.push({ id: c.id, files, needs });
    states.set(c.id, out.chunks[out.chunks.length - 1]!);
    if (marks.get(c.id) === files) { withRow += files; continue; }
    const paths = c.paths();
    for (let i = c.first, j = i * 4; i < c.end; i++, j += 4) {
      const f: WsFile = { path: paths[i - c.first]!, size: nums[j]!, mtime: nums[j + 1]!, ino: nums[j + 2]!, mode: nums[j + 3]! };
      const state = cache.probe(f);
      ops.rowsProbed++;
      if (state === 1) { withRow++; continue; }
      needs.push(f);
      if (state === -1) { out.added.push(f); continue; }
      withRow++;
      const row = cache.recorded(f.path)!;
      const hash = await hashFile(path.join(root, f.path), f.mode);
      if (hash === row.hash && f.mode === row.mode) out.refreshed.push({ file: f, hash });
      else out.modified.push(f);
    }
  }
  if (withRow < cache.size) {
    const seen = new Set(packed.count ? packed.paths.split('\0') : []);
    for (const p of cache.paths()) if (!seen.has(p)) out.deleted.push(p);
    out.deleted.sort();
  }
  out.added.sort(byPath);
  out.modified.sort(byPath);
  return out;
}

/** The chunks of a scan known to be unchanged (its fingerprint is the remembered one). */
export function cleanChunks(scan: ScanResult): Pick<MirrorDiff, 'chunks' | 'chunkOf'> {
  const cut = chunkScan(scan.packed());
  const chunks = cut.list.map((c) => ({ id: c.id, files: c.end - c.first, needs: [] }));
  const byId = new Map(chunks.map((c) => [c.id, c]));
  return { chunks, chunkOf: (p) => byId.get(cut.chunkOf(p)?.id ?? '') };
}

/**
 * The chunk marks to keep once the rows are saved: chunks whose files all had fresh rows,
 * and those whose other files `recorded` says now have a row with the scanned stat
 * (recorded at least RACY_MS after their mtime, so neither skipped nor smudged).
 */
export function chunksAfter(d: Pick<MirrorDiff, 'chunks'>, recorded: (f: WsFile) => boolean, now = Date.now()): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of d.chunks) {
    if (c.needs.every((f) => now - f.mtime >= RACY_MS && recorded(f))) out.set(c.id, c.files);
  }
  return out;
}

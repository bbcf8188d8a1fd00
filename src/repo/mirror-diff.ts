// What changed in the workspace since HEAD, when the stat cache mirrors HEAD's tree
// (its rows are exactly HEAD's files, with their hashes): then a file with no row is
// new, a row with no file is deleted, and only files whose stat changed are read. No
// tree is read and no per-file entry of HEAD is built, so status, commit and checkout
// after a small change cost one stat per file plus the change, as git's index does.
import path from 'node:path';
import type { ScanResult, WsFile } from './scan.js';
import { hashFile, type StatCache } from './workspace.js';

export interface MirrorDiff {
  added: WsFile[];
  /** Files whose content or mode differs from their row (HEAD's version). */
  modified: WsFile[];
  deleted: string[];
  /** Files whose stat changed but whose content and mode are HEAD's: rows to refresh. */
  refreshed: { file: WsFile; hash: string }[];
}

export const isClean = (d: MirrorDiff): boolean => !d.added.length && !d.modified.length && !d.deleted.length;

const byPath = (a: WsFile, b: WsFile): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Call only when `cache.mirrors(HEAD's tree)` and `scan` covers every tracked path. */
export async function diffAgainstMirror(root: string, cache: StatCache, scan: ScanResult): Promise<MirrorDiff> {
  const out: MirrorDiff = { added: [], modified: [], deleted: [], refreshed: [] };
  const { count, nums } = scan.packed();
  const paths = count ? scan.packed().paths.split('\0') : [];
  let withRow = 0;
  for (let i = 0, j = 0; i < count; i++, j += 4) {
    const f: WsFile = { path: paths[i]!, size: nums[j]!, mtime: nums[j + 1]!, ino: nums[j + 2]!, mode: nums[j + 3]! };
    const state = cache.probe(f);
    if (state === 1) { withRow++; continue; }
    if (state === -1) { out.added.push(f); continue; }
    withRow++;
    const row = cache.recorded(f.path)!;
    const hash = await hashFile(path.join(root, f.path), f.mode);
    if (hash === row.hash && f.mode === row.mode) out.refreshed.push({ file: f, hash });
    else out.modified.push(f);
  }
  if (withRow < cache.size) {
    const seen = new Set(paths);
    for (const p of cache.paths()) if (!seen.has(p)) out.deleted.push(p);
    out.deleted.sort();
  }
  out.added.sort(byPath);
  out.modified.sort(byPath);
  return out;
}

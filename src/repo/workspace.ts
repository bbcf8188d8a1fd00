// The working tree seen through the stat cache (statcache.ts): which tracked files exist,
// and which of them are known (size, mtime and inode unchanged since their content was stored).
import fs from 'node:fs';
import path from 'node:path';
import { DvError } from '../store/errors.js';
import { createHasher } from '../store/hash.js';
import { ops } from './opcount.js';
import { SKIP_DIRS, type WsFile } from './scan.js';
import type { StatCache } from './statcache.js';
import { isLink, type FileEntry, type StoredFile } from './types.js';

export { scanWorkspace, fileMode, type WsFile } from './scan.js';
export { encodeStatIndex, StatCache } from './statcache.js';

/** Normalises a user-given path to a project-relative one; refuses paths outside. */
export function projectPath(root: string, cwd: string, p: string): string {
  const abs = path.resolve(cwd, p);
  const rel = path.relative(root, abs);
  // `..` or `../x` is outside; a name that merely starts with dots (`..data`) is not.
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) throw new DvError(`path '${p}' is outside the project (${root})`);
  if (rel === '') return '';
  const norm = rel.split(path.sep).join('/');
  if (norm.split('/').some((s) => SKIP_DIRS.has(s))) throw new DvError(`path '${p}' is inside dv's or git's own directory`);
  return norm;
}

export function toEntry(name: string, mode: number, c: StoredFile): FileEntry {
  return { name, type: 'file', mode, size: c.size, hash: c.hash, chunks: c.chunks };
}

/** BLAKE3 of a file's content, streamed through a fixed buffer; of a link's target text. */
export async function hashFile(abs: string, mode?: number): Promise<string> {
  ops.filesHashed++;
  const h = await createHasher();
  if (mode !== undefined && isLink(mode)) return h.update(fs.readlinkSync(abs, { encoding: 'buffer' })).digestHex();
  const fd = fs.openSync(abs, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digestHex();
}

/** Current content hash of each workspace file: from the stat cache, else by reading it. */
export async function workspaceHashes(root: string, files: WsFile[], cache: StatCache): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of files) out.set(f.path, cache.hashOf(f) ?? (await hashFile(path.join(root, f.path), f.mode)));
  return out;
}

/**
 * Leading directories of `paths` that are symbolic links in the workspace, with their
 * targets. Writing `data/a.csv` through a `data` link would change files outside the
 * project, as git refuses to.
 */
export function linkedParents(root: string, paths: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const checked = new Set<string>();
  for (const p of paths) {
    const dirs: string[] = [];
    for (let d = path.posix.dirname(p); d !== '.'; d = path.posix.dirname(d)) dirs.unshift(d);
    for (const d of dirs) {
      if (checked.has(d)) continue;
      checked.add(d);
      const st = fs.lstatSync(path.join(root, d), { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) { out.set(d, fs.readlinkSync(path.join(root, d))); break; }
    }
  }
  return out;
}

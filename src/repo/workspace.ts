// The working tree seen through the stat cache: which tracked files exist, and which
// of them are known (size, mtime and inode unchanged since their content was stored).
import fs from 'node:fs';
import path from 'node:path';
import type { DB } from '../store/db.js';
import { DvError } from '../store/errors.js';
import { createHasher } from '../store/hash.js';
import { MODE_EXEC, MODE_FILE, type ChunkRef, type FileEntry, type StoredFile } from './types.js';

export interface WsFile {
  path: string;
  size: number;
  mtime: number;
  ino: number;
  mode: number;
}

interface StatRow {
  path: string;
  size: number;
  mtime: number;
  ino: number;
  mode: number;
  hash: string;
  chunks: Buffer;
}

/** Coarser than any common filesystem's timestamp granularity except FAT's. */
const RACY_MS = 1000;

/** Directories dv never descends into. */
const SKIP_DIRS = new Set(['.dv', '.git']);

export function fileMode(statMode: number): number {
  return statMode & 0o111 ? MODE_EXEC : MODE_FILE;
}

/** Lists regular files under the tracked paths, sorted by path. Missing tracked paths
 * contribute nothing (their files show up as deleted). */
export function scanWorkspace(root: string, tracked: string[]): WsFile[] {
  const out: WsFile[] = [];
  const visitDir = (rel: string): void => {
    let dirents: fs.Dirent[];
    try {
      dirents = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw e;
    }
    for (const d of dirents) {
      const p = `${rel}/${d.name}`;
      if (d.isDirectory()) { if (!SKIP_DIRS.has(d.name)) visitDir(p); }
      else if (d.isFile()) visitFile(p);
    }
  };
  const visitFile = (rel: string): void => {
    const st = fs.statSync(path.join(root, rel), { throwIfNoEntry: false });
    if (st?.isFile()) out.push({ path: rel, size: st.size, mtime: st.mtimeMs, ino: st.ino, mode: fileMode(st.mode) });
  };
  for (const t of tracked) {
    const st = fs.statSync(path.join(root, t), { throwIfNoEntry: false });
    if (st?.isDirectory()) visitDir(t);
    else if (st?.isFile()) visitFile(t);
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export function encodeChunks(chunks: ChunkRef[]): Buffer {
  const buf = Buffer.allocUnsafe(chunks.length * 36);
  chunks.forEach(([id, len], i) => {
    buf.write(id, i * 36, 32, 'hex');
    buf.writeUInt32LE(len, i * 36 + 32);
  });
  return buf;
}

export function decodeChunks(buf: Buffer): ChunkRef[] {
  const out: ChunkRef[] = [];
  for (let p = 0; p + 36 <= buf.length; p += 36) out.push([buf.toString('hex', p, p + 32), buf.readUInt32LE(p + 32)]);
  return out;
}

/** Normalises a user-given path to a project-relative one; refuses paths outside. */
export function projectPath(root: string, cwd: string, p: string): string {
  const abs = path.resolve(cwd, p);
  const rel = path.relative(root, abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new DvError(`path '${p}' is outside the project (${root})`);
  if (rel === '') return '';
  const norm = rel.split(path.sep).join('/');
  if (norm.split('/').some((s) => SKIP_DIRS.has(s))) throw new DvError(`path '${p}' is inside dv's or git's own directory`);
  return norm;
}

export class StatCache {
  private rows: Map<string, StatRow> | null = null;

  constructor(private db: DB) {}

  private load(): Map<string, StatRow> {
    if (!this.rows) {
      this.rows = new Map();
      for (const r of this.db.prepare('SELECT path, size, mtime, ino, mode, hash, chunks FROM stat').iterate() as Iterable<StatRow>) {
        this.rows.set(r.path, r);
      }
    }
    return this.rows;
  }

  /** The stored content of `f` if the file is unchanged since it was recorded. */
  lookup(f: WsFile): StoredFile | null {
    const r = this.load().get(f.path);
    if (!r || r.size !== f.size || r.mtime !== f.mtime || r.ino !== f.ino) return null;
    return { size: r.size, hash: r.hash, chunks: decodeChunks(r.chunks) };
  }

  /** Only hash lookups: cheaper than lookup() when chunks are not needed. */
  hashOf(f: WsFile): string | null {
    const r = this.load().get(f.path);
    return r && r.size === f.size && r.mtime === f.mtime && r.ino === f.ino ? r.hash : null;
  }

  /**
   * Records that `f` holds stored content. A file modified within the same mtime tick
   * as it was read would look unchanged later ("racy" entries, as in git), so files
   * modified less than RACY_MS before now are not recorded and get re-read next time.
   */
  record(rows: { file: WsFile; content: StoredFile }[], now = Date.now()): void {
    const put = this.db.prepare(
      'INSERT INTO stat (path, size, mtime, ino, mode, hash, chunks) VALUES (?, ?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime=excluded.mtime, ino=excluded.ino, mode=excluded.mode, hash=excluded.hash, chunks=excluded.chunks',
    );
    const cache = this.load();
    for (const { file, content } of rows) {
      if (now - file.mtime < RACY_MS) continue;
      const row = { ...file, hash: content.hash, chunks: encodeChunks(content.chunks) };
      put.run(row.path, row.size, row.mtime, row.ino, row.mode, row.hash, row.chunks);
      cache.set(row.path, row);
    }
  }

  forget(paths: string[]): void {
    const del = this.db.prepare('DELETE FROM stat WHERE path = ?');
    for (const p of paths) { del.run(p); this.rows?.delete(p); }
  }
}

export function toEntry(name: string, mode: number, c: StoredFile): FileEntry {
  return { name, type: 'file', mode, size: c.size, hash: c.hash, chunks: c.chunks };
}

/** BLAKE3 of a file's content, streamed through a fixed buffer. */
export async function hashFile(abs: string): Promise<string> {
  const h = await createHasher();
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
  for (const f of files) out.set(f.path, cache.hashOf(f) ?? (await hashFile(path.join(root, f.path))));
  return out;
}

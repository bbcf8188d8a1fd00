// Listing the workspace: one stat per file under the tracked paths. At 100,000 files the
// stat calls dominate a no-op status, so the native scanner (native-scan.ts: the same walk
// in C on a few threads) does them when it is built; otherwise, on large trees (known from
// the stat cache), the JS walk is split with a worker thread, as this machine has 2 cores.
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { DvError } from '../store/errors.js';
import { blake3 } from '../store/hash.js';
import { nativeScan, pack, pathBytes, unpack, type PackedScan } from './native-scan.js';
import { MODE_EXEC, MODE_FILE, MODE_LINK } from './types.js';

export interface WsFile {
  path: string;
  size: number;
  mtime: number;
  ino: number;
  mode: number;
}

/** A unit of scanning work: a file to stat or a directory to walk. */
export interface ScanItem {
  rel: string;
  dir: boolean;
}

/** Directories dv never descends into. */
export const SKIP_DIRS = new Set(['.dv', '.git']);

/** Below this many known files a worker's start-up costs more than it saves. */
const PARALLEL_MIN_FILES = 20_000;

/** Threads of the native scanner (the stat calls are mostly kernel time, and wait on the disk when cold). */
const NATIVE_THREADS = 4;

/** The mode dv records for an lstat mode: a link, an executable or a plain file. */
export function fileMode(statMode: number): number {
  if ((statMode & fs.constants.S_IFMT) === fs.constants.S_IFLNK) return MODE_LINK;
  return statMode & 0o111 ? MODE_EXEC : MODE_FILE;
}

/** What a scan records: regular files and symbolic links (as links, never followed). */
const recorded = (st: fs.Stats | undefined): boolean => !!st && (st.isFile() || st.isSymbolicLink());

function readDir(root: string, rel: string): fs.Dirent[] {
  try {
    return fs.readdirSync(`${root}/${rel}`, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
}

/** Names are UTF-8 text in trees: a name that is not valid UTF-8 would be decoded lossily
 * (to U+FFFD), fail its stat and vanish from the commit without a word. Refused instead,
 * naming the file with its bad bytes escaped. */
function checkNames(root: string, rel: string, entries: fs.Dirent[]): void {
  if (!entries.some((d) => d.name.includes('\ufffd'))) return;
  for (const raw of fs.readdirSync(`${root}/${rel}`, { encoding: 'buffer' })) {
    if (Buffer.from(raw.toString('utf8'), 'utf8').equals(raw)) continue;
    const shown = [...raw].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
    throw new DvError(`${rel}/${shown}: file name is not valid UTF-8; dv records names as UTF-8 text, so rename it (nothing was recorded)`, 1, 'BAD_NAME');
  }
}

function childItems(root: string, rel: string): ScanItem[] {
  const out: ScanItem[] = [];
  const entries = readDir(root, rel);
  checkNames(root, rel, entries);
  for (const d of entries) {
    if (d.isDirectory()) { if (!SKIP_DIRS.has(d.name)) out.push({ rel: `${rel}/${d.name}`, dir: true }); }
    else if (d.isFile() || d.isSymbolicLink()) out.push({ rel: `${rel}/${d.name}`, dir: false });
  }
  return out;
}

/** Walks the items depth-first, calling `emit` for every regular file and symlink. */
export function scanItems(root: string, items: ScanItem[], emit: (rel: string, st: fs.Stats) => void): void {
  const visit = (it: ScanItem): void => {
    if (it.dir) { for (const c of childItems(root, it.rel)) visit(c); return; }
    const st = fs.lstatSync(`${root}/${it.rel}`, { throwIfNoEntry: false });
    if (recorded(st)) emit(it.rel, st!);
  };
  for (const it of items) visit(it);
}

function topItems(root: string, tracked: string[]): ScanItem[] {
  const items: ScanItem[] = [];
  for (const t of tracked) {
    // lstat: a tracked directory replaced by a link to elsewhere is a link, not walked.
    const st = fs.lstatSync(path.join(root, t), { throwIfNoEntry: false });
    if (st?.isDirectory()) items.push({ rel: t, dir: true });
    else if (recorded(st)) items.push({ rel: t, dir: false });
  }
  return items;
}

/** Opens directories until there are enough items to share between two threads. */
function expand(root: string, items: ScanItem[]): ScanItem[] {
  for (let depth = 0; depth < 3 && items.length < 16 && items.some((i) => i.dir); depth++) {
    items = items.flatMap((i) => (i.dir ? childItems(root, i.rel) : [i]));
  }
  return items;
}

function scanInWorker(root: string, items: ScanItem[]): Promise<WsFile[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./scan-worker.js', import.meta.url), { workerData: { root, items } });
    w.once('message', (m: { paths: string[]; nums: Float64Array; error?: string }) => {
      if (m.error !== undefined) { reject(new DvError(m.error, 1, 'BAD_NAME')); return; }
      const out: WsFile[] = new Array(m.paths.length);
      for (let i = 0; i < m.paths.length; i++) {
        out[i] = { path: m.paths[i], size: m.nums[i * 4], mtime: m.nums[i * 4 + 1], ino: m.nums[i * 4 + 2], mode: m.nums[i * 4 + 3] };
      }
      resolve(out);
    });
    w.once('error', reject);
  });
}

/** Regular files under the tracked paths, in no particular order. Missing tracked
 * paths contribute nothing (their files show up as deleted). */
export async function scanWorkspace(root: string, tracked: string[], expectedFiles = 0): Promise<WsFile[]> {
  return (await scanDetailed(root, tracked, expectedFiles)).files();
}

export interface ScanResult {
  count: number;
  /** BLAKE3 over every (path, size, mtime, inode, mode) in walk order: equal
   * fingerprints mean an unchanged workspace, with no per-file objects built. */
  fingerprint(): string;
  files(): WsFile[];
  /** The scan as '\0'-joined paths and four numbers a file, without an object per file. */
  packed(): PackedScan;
  bytes(): number;
}

export async function scanDetailed(root: string, tracked: string[], expectedFiles = 0): Promise<ScanResult> {
  const items = topItems(root, tracked);
  const threadsEnv = Number(process.env.DV_SCAN_THREADS);
  const native = nativeScan(root, items, threadsEnv >= 1 ? threadsEnv : NATIVE_THREADS);
  if (native) {
    let files: WsFile[] | undefined;
    const bytes = () => { let s = 0; for (let i = 0; i < native.nums.length; i += 4) s += native.nums[i]; return s; };
    return { count: native.count, fingerprint: () => fingerprint(native), files: () => (files ??= unpack(native)), packed: () => native, bytes };
  }
  const files = await scanJs(root, items, expectedFiles);
  return { count: files.length, fingerprint: () => fingerprint(pack(files)), files: () => files, packed: () => pack(files),
    bytes: () => files.reduce((s, f) => s + f.size, 0) };
}

/** Hashes of the paths and of the numbers, hashed together: no copy of the whole scan
 * (at 1,000,000 files a concatenation was ~60 MB more at the peak). */
function fingerprint(p: PackedScan): string {
  const nums = Buffer.from(p.nums.buffer, p.nums.byteOffset, p.nums.byteLength);
  const count = Buffer.alloc(4);
  count.writeUInt32LE(p.count);
  return blake3(Buffer.concat([count, blake3(pathBytes(p)), blake3(nums)])).toString('hex');
}

async function scanJs(root: string, items: ScanItem[], expectedFiles: number): Promise<WsFile[]> {
  const out: WsFile[] = [];
  const emit = (rel: string, st: fs.Stats) => out.push({ path: rel, size: st.size, mtime: st.mtimeMs, ino: st.ino, mode: fileMode(st.mode) });
  if (expectedFiles < PARALLEL_MIN_FILES || process.env.DV_SCAN_THREADS === '1') {
    scanItems(root, items, emit);
    return out;
  }
  items = expand(root, items);
  const theirs = items.filter((_, i) => i % 2 === 1);
  const pending = scanInWorker(root, theirs);
  scanItems(root, items.filter((_, i) => i % 2 === 0), emit);
  for (const f of await pending) out.push(f);
  return out;
}

// The optional native workspace scanner (native/scan.c, built by scripts/build-native.mjs
// at install): the same walk as scanItems in scan.ts, with the stat calls in C on a few
// threads, in well under half the JS path's time on large trees. When the addon is
// missing, fails to load, or declines a scan (any error, or a name that is not valid
// UTF-8), the caller uses the JS path, which is the reference: results are identical.
//
// DV_NATIVE=0 disables the addon; DV_NATIVE=1 makes a missing addon an error (to check
// that a build or benchmark really uses it).
import { loadNativeAddon, NATIVE_ADDON_PATH } from '../store/native-addon.js';
import type { ScanItem, WsFile } from './scan.js';

/** Bumped with native/scan.c's DVSCAN_ABI whenever the interface changes. */
const ABI = 2;

interface Addon {
  abi: number;
  /** Regular files as '\0'-joined paths plus (size, mtimeMs, ino, mode) per file; null: use the JS path. */
  scan(root: string, items: ScanItem[], threads: number): { count: number; paths: string; nums: Float64Array } | null;
}

const LONE_SURROGATE = /\p{Cs}/u;

let addon: Addon | null | undefined;
let loadError: unknown;

function load(): Addon | null {
  if (addon === undefined) {
    const { addon: mod, error } = loadNativeAddon();
    loadError = error;
    addon = null;
    if (mod && (mod.abi !== ABI || typeof mod.scan !== 'function')) {
      loadError = new Error(`${NATIVE_ADDON_PATH} is stale (abi ${mod.abi}, want ${ABI}); rebuild with \`node scripts/build-native.mjs\``);
    } else if (mod) addon = mod as unknown as Addon;
  }
  return addon;
}

/** Whether scans will use the addon (it loads, and DV_NATIVE is not 0). */
export function nativeScanAvailable(): boolean {
  const mode = process.env.DV_NATIVE;
  if (mode === '0') return false;
  const a = load();
  if (!a && mode === '1') throw new Error(`DV_NATIVE=1 but the native scanner did not load: ${(loadError as Error)?.message ?? loadError}`);
  return a !== null;
}

/**
 * scanItems(root, items) in C, as WsFile records in the JS walk's order; null when the
 * addon is unavailable or leaves the scan to the JS path.
 */
export function nativeScan(root: string, items: ScanItem[], threads: number): PackedScan | null {
  if (!nativeScanAvailable()) return null;
  // A lone surrogate would be encoded lossily on the way to C; the JS path keeps it in its output.
  if (LONE_SURROGATE.test(root) || items.some((i) => LONE_SURROGATE.test(i.rel))) return null;
  const r = addon!.scan(root, items, threads);
  if (r === null) return null;
  return r;
}

/** A scan as the addon returns it: '\0'-joined paths, and (size, mtimeMs, ino, mode) per file. */
export interface PackedScan {
  count: number;
  paths: string;
  nums: Float64Array;
}

export function unpack(r: PackedScan): WsFile[] {
  const paths = r.count === 0 ? [] : r.paths.split('\0');
  if (paths.length !== r.count) throw new Error(`native scan returned ${paths.length} paths for ${r.count} files`);
  const nums = r.nums;
  const out: WsFile[] = new Array(r.count);
  for (let i = 0, j = 0; i < r.count; i++, j += 4) {
    out[i] = { path: paths[i], size: nums[j], mtime: nums[j + 1], ino: nums[j + 2], mode: nums[j + 3] };
  }
  return out;
}

export function pack(files: WsFile[]): PackedScan {
  const nums = new Float64Array(files.length * 4);
  files.forEach((f, i) => nums.set([f.size, f.mtime, f.ino, f.mode], i * 4));
  return { count: files.length, paths: files.map((f) => f.path).join('\0'), nums };
}

const bytesOf = new WeakMap<PackedScan, Buffer>();

/** The scan's paths as UTF-8 bytes, encoded once a scan: the fingerprint and the chunk
 * cut (scan-chunks.ts) both read them (at 1,000,000 files each copy is ~26 MB). */
export function pathBytes(p: PackedScan): Buffer {
  let b = bytesOf.get(p);
  if (!b) { b = Buffer.from(p.paths, 'utf8'); bytesOf.set(p, b); }
  return b;
}

// The workspace scan: the native scanner (native/scan.c, optional) against the JS walk it
// replaces, which stays the fallback. Both must give the same files with the same size,
// mtime, inode and mode, in the same order as the single-threaded JS walk.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fileMode, scanItems, scanWorkspace, type WsFile } from '../../src/repo/scan.js';
import { nativeScan, nativeScanAvailable, unpack } from '../../src/repo/native-scan.js';
import { NATIVE_ADDON_PATH } from '../../src/store/native-addon.js';
import { makeTempDir, removeDir } from '../helpers/cli.js';

// The tests set DV_NATIVE and DV_SCAN_THREADS themselves; they start from neither being set
// (whatever the caller's environment says) and restore the caller's values at the end.
const savedEnv = { DV_NATIVE: process.env.DV_NATIVE, DV_SCAN_THREADS: process.env.DV_SCAN_THREADS };
function resetEnv(): void {
  delete process.env.DV_NATIVE;
  delete process.env.DV_SCAN_THREADS;
}
resetEnv();
const NATIVE = nativeScanAvailable();
if (!NATIVE) {
  console.warn(`scan.test: native scanner not built (${NATIVE_ADDON_PATH} missing or not loadable); ` +
    'skipping the native-vs-JS comparisons. Build it with `node scripts/build-native.mjs`.');
}

/** scanWorkspace with the native scanner on or off (and the JS walk single-threaded unless `expected` is large). */
async function scanWith(native: boolean, root: string, tracked: string[], expected = 0): Promise<WsFile[]> {
  process.env.DV_NATIVE = native ? '1' : '0';
  try {
    return await scanWorkspace(root, tracked, expected);
  } finally {
    resetEnv();
  }
}

const DIST_SCAN = fileURLToPath(new URL('../../dist/repo/scan.js', import.meta.url));

const byPath = (files: WsFile[]) => [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

/** What fs.lstatSync says about each file, as the JS path records it. */
function statOf(root: string, rel: string): WsFile {
  const st = fs.lstatSync(`${root}/${rel}`);
  return { path: rel, size: st.size, mtime: st.mtimeMs, ino: st.ino, mode: fileMode(st.mode) };
}

let root: string;
const TRACKED = ['tree', 'link-dir', 'link-file', 'top.bin', 'missing', 'tree/sub/deeper'];

beforeAll(() => {
  root = makeTempDir('dv-scan-test-');
  const w = (rel: string, data: string | Buffer = rel, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), data);
    fs.chmodSync(path.join(root, rel), mode);
  };
  w('top.bin', 'top');
  w('tree/a.txt');
  w('tree/empty', '');
  w('tree/run.sh', '#!/bin/sh\n', 0o755);
  w('tree/owner-exec', 'x', 0o744);
  w('tree/other-exec', 'x', 0o641);
  w('tree/private', 'x', 0o600);
  w('tree/sub/deeper/deepest/leaf.txt');
  w('tree/sub/deeper/empty-too', '');
  fs.mkdirSync(path.join(root, 'tree/sub/empty-dir'), { recursive: true });
  // strcmp order differs from locale order here: upper case, '-' vs '_', dots, non-ASCII.
  for (const n of ['B', 'a', 'b', 'A', 'x-y', 'x_y', 'x.y', 'x', '_', '~', 'zz']) w(`tree/order/${n}`);
  for (const n of ['café', 'cafe\u0301', '日本語.txt', '🙂 emoji', 'Ω', 'naïve dir/ü.bin', 'ß']) w(`tree/unicode/${n}`, n);
  // Directories dv never enters, at the top and deeper; a file named .git is a file.
  w('tree/.git/HEAD', 'ref: x');
  w('tree/.dv/db', 'x');
  w('tree/sub/.git/config', 'x');
  w('tree/sub/worktree/.git', 'gitdir: elsewhere');
  w('tree/sub/.dvignore-not-special', 'x');
  // Symlinks, tracked or inside a walked dir, are recorded as links (lstat), never followed.
  fs.mkdirSync(path.join(root, 'target-dir/inner'), { recursive: true });
  w('target-dir/inner/t.txt');
  w('target-file.txt', 'target');
  fs.symlinkSync('../target-file.txt', path.join(root, 'tree/link-to-file'));
  fs.symlinkSync('../target-dir', path.join(root, 'tree/link-to-dir'));
  fs.symlinkSync('nowhere', path.join(root, 'tree/dangling'));
  fs.symlinkSync('target-dir', path.join(root, 'link-dir'));
  fs.symlinkSync('target-file.txt', path.join(root, 'link-file'));
  try { execFileSync('mkfifo', [path.join(root, 'tree/fifo')]); } catch { /* no mkfifo: fine */ }
  // A big directory, so the native scanner splits its stat calls between threads.
  for (let i = 0; i < 1500; i++) w(`tree/many/f${i}`, 'x'.repeat(i % 7), i % 5 === 0 ? 0o755 : 0o644);
  // Fractional-millisecond, pre-1970 and far-future mtimes. (utimesSync takes a negative
  // number of seconds as "now", but a Date before 1970 as such.)
  let k = 0;
  for (const rel of walkFiles(root, 'tree')) {
    const sec = [1_700_000_000.123456, 1_234_567_890.987654321, 0.000001, 4_000_000_000.999999, 1_600_000_000 + k / 7][k % 5];
    const mtime = k % 7 === 3 ? new Date(-1_000_500 - k) : sec + k * 0.001013;
    fs.utimesSync(path.join(root, rel), sec, mtime);
    k++;
  }
  // Nanoseconds before 1970, where touch(1) can set them.
  for (const [rel, when] of [['tree/sub/old', '1960-01-01 00:00:00.123456789'], ['tree/sub/older', '1901-12-14 20:45:52.999999999']]) {
    w(rel, 'old');
    try { execFileSync('touch', ['-m', '-d', `${when} UTC`, path.join(root, rel)]); } catch { /* no GNU touch: fine */ }
  }
});

afterAll(() => {
  removeDir(root);
  Object.assign(process.env, Object.fromEntries(Object.entries(savedEnv).filter(([, v]) => v !== undefined)));
});
afterEach(resetEnv);

function walkFiles(rootDir: string, rel: string): string[] {
  const out: string[] = [];
  for (const d of fs.readdirSync(path.join(rootDir, rel), { withFileTypes: true })) {
    const r = `${rel}/${d.name}`;
    if (d.isDirectory()) out.push(...walkFiles(rootDir, r));
    else if (d.isFile()) out.push(r);
  }
  return out;
}

describe('JS scan', () => {
  it('finds regular files and symlinks (as links, never followed), and skips .git/.dv dirs', async () => {
    const files = await scanWith(false, root, TRACKED);
    const paths = files.map((f) => f.path);
    expect(paths).toContain('tree/sub/worktree/.git');
    expect(paths).toContain('tree/unicode/🙂 emoji');
    expect(paths).toContain('tree/empty');
    expect(paths.filter((p) => p === 'tree/sub/deeper/deepest/leaf.txt')).toHaveLength(2); // tracked twice, as given
    const links = files.filter((f) => f.mode === 0o120000).map((f) => f.path).sort();
    expect(links).toEqual(['link-dir', 'link-file', 'tree/dangling', 'tree/link-to-dir', 'tree/link-to-file']);
    expect(paths.some((p) => /\/\.(git|dv)\//.test(p) || p.startsWith('link-dir/') || p.endsWith('fifo'))).toBe(false);
    const mode = (p: string) => files.find((f) => f.path === p)!.mode;
    expect([mode('tree/run.sh'), mode('tree/owner-exec'), mode('tree/other-exec'), mode('tree/private'), mode('tree/a.txt')])
      .toEqual([0o755, 0o755, 0o755, 0o644, 0o644]);
    for (const f of files) expect(f).toEqual(statOf(root, f.path));
  });
});

// npm ci builds the addon (.ci/run installs the compiler): a missing one fails here, never skips.
describe('native scan', () => {
  it('is used when built (and DV_NATIVE=0 turns it off)', () => {
    expect(NATIVE).toBe(true);
    expect(nativeScan(root, [{ rel: 'tree', dir: true }], 2)).not.toBeNull();
    process.env.DV_NATIVE = '0';
    expect(nativeScan(root, [{ rel: 'tree', dir: true }], 2)).toBeNull();
  });

  it('gives exactly the single-threaded JS walk: files, order, size, mtime, ino, mode', async () => {
    const js = await scanWith(false, root, TRACKED);
    expect(js.length).toBeGreaterThan(1500);
    for (const threads of ['1', '2', '4', '']) {
      process.env.DV_SCAN_THREADS = threads;
      const native = await scanWith(true, root, TRACKED);
      expect(native).toEqual(js);
      // toEqual treats -0 and 0 alike and NaN as equal; check the numbers bit for bit too.
      native.forEach((f, i) => {
        for (const k of ['size', 'mtime', 'ino', 'mode'] as const) expect(Object.is(f[k], js[i][k])).toBe(true);
      });
    }
  });

  // The worker thread runs compiled JavaScript: this compares against the build in dist/.
  it('matches the JS walk split with a worker thread (dist build), as a set', async () => {
    expect(fs.existsSync(DIST_SCAN), 'npm test builds dist/ first').toBe(true);
    const dist = (await import(DIST_SCAN)) as typeof import('../../src/repo/scan.js');
    process.env.DV_NATIVE = '0';
    const js = await dist.scanWorkspace(root, TRACKED, 1_000_000);
    process.env.DV_NATIVE = '1';
    const native = await dist.scanWorkspace(root, TRACKED, 1_000_000);
    expect(byPath(native)).toEqual(byPath(js));
    expect(byPath(native)).toEqual(byPath(await scanWith(false, root, TRACKED)));
  });

  it('reports mtimeMs exactly as fs.statSync does, for fractional, negative and future times', () => {
    const native = unpack(nativeScan(root, [{ rel: 'tree', dir: true }], 4)!);
    expect(native.length).toBeGreaterThan(1500);
    const mtimes = new Set<number>();
    for (const f of native) {
      const st = fs.lstatSync(`${root}/${f.path}`);
      expect(Object.is(f.mtime, st.mtimeMs)).toBe(true);
      expect(f.ino).toBe(st.ino);
      expect(f.size).toBe(st.size);
      mtimes.add(f.mtime);
    }
    expect([...mtimes].some((m) => m < 0)).toBe(true);
    expect([...mtimes].some((m) => !Number.isInteger(m * 1000))).toBe(true); // sub-microsecond parts
  });

  it('handles tracked paths that are files, symlinks, missing or empty lists', async () => {
    for (const tracked of [[], ['missing'], ['top.bin'], ['link-file'], ['link-dir'], ['tree/sub'], ['tree/a.txt', 'tree/a.txt'], ['target-dir', 'tree/unicode']]) {
      expect(await scanWith(true, root, tracked)).toEqual(await scanWith(false, root, tracked));
    }
  });

  it('picks up changes between scans like the JS walk', async () => {
    const dir = makeTempDir('dv-scan-change-');
    try {
      fs.mkdirSync(path.join(dir, 'd/e'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'd/e/f'), 'one');
      const before = await scanWith(true, dir, ['d']);
      fs.writeFileSync(path.join(dir, 'd/e/f'), 'three');
      fs.utimesSync(path.join(dir, 'd/e/f'), 1_700_000_000.0005, 1_700_000_000.0005);
      fs.writeFileSync(path.join(dir, 'd/new'), '');
      const after = await scanWith(true, dir, ['d']);
      expect(after).toEqual(await scanWith(false, dir, ['d']));
      expect(after).not.toEqual(before);
      expect(after.find((f) => f.path === 'd/e/f')).toEqual(statOf(dir, 'd/e/f'));
    } finally {
      removeDir(dir);
    }
  });

  it('leaves names that are not valid UTF-8 to the JS walk, which refuses them by name (never drops them)', async () => {
    const dir = makeTempDir('dv-scan-bytes-');
    try {
      fs.mkdirSync(path.join(dir, 'd'));
      fs.writeFileSync(path.join(dir, 'd/ok'), 'ok');
      const bad = Buffer.concat([Buffer.from(`${dir}/d/bad-`), Buffer.from([0xff, 0xfe])]);
      fs.writeFileSync(bad, 'bad');
      fs.mkdirSync(Buffer.concat([bad, Buffer.from('-dir')]));
      fs.writeFileSync(Buffer.concat([bad, Buffer.from('-dir/inside')]), 'x');
      expect(nativeScan(dir, [{ rel: 'd', dir: true }], 2)).toBeNull();
      for (const native of [false, true]) {
        await expect(scanWith(native, dir, ['d'])).rejects.toThrow(/^d\/bad-\\xff\\xfe(-dir)?: file name is not valid UTF-8/);
      }
    } finally {
      removeDir(dir);
    }
  });

  it('agrees with scanItems on the raw walk of the root', () => {
    const js: WsFile[] = [];
    scanItems(root, [{ rel: 'tree', dir: true }, { rel: 'top.bin', dir: false }], (rel, st) =>
      js.push({ path: rel, size: st.size, mtime: st.mtimeMs, ino: st.ino, mode: fileMode(st.mode) }));
    expect(unpack(nativeScan(root, [{ rel: 'tree', dir: true }, { rel: 'top.bin', dir: false }], 3)!)).toEqual(js);
  });
});

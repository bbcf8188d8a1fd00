// Helpers for tests that drive the real, built CLI (`node bin/dv.js`) as child processes,
// plus temp project directories and deterministic test data.
//
// The e2e tests run the compiled JavaScript in dist/: `npm test` builds first
// (`npm run build`); when running vitest directly, build with `npx tsc -p tsconfig.json`.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DV_BIN = path.join(REPO_ROOT, 'bin', 'dv.js');
const DIST_MAIN = path.join(REPO_ROOT, 'dist', 'cli', 'main.js');

export const TEST_AUTHOR = 'dv tests <tests@example.invalid>';

/** Throws a clear message when the CLI has not been built (dist/ missing). */
export function ensureBuilt(): void {
  if (!fs.existsSync(DIST_MAIN)) {
    throw new Error(
      `${path.relative(REPO_ROOT, DIST_MAIN)} is missing: the CLI tests run the built JavaScript. ` +
        'Build first with `npm run build` (or `npx tsc -p tsconfig.json`); `npm test` does this for you.',
    );
  }
}

// ---------------------------------------------------------------------------
// Temp directories
// ---------------------------------------------------------------------------

/** A fresh directory under os.tmpdir(); remove it with removeDir (or use TempDirs). */
export function makeTempDir(prefix = 'dv-test-'): string {
  // realpath: on some systems tmpdir is a symlink, and dv prints resolved paths.
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

/** Tracks temp dirs so one afterAll/afterEach removes them all. */
export class TempDirs {
  private dirs: string[] = [];
  make(prefix = 'dv-test-'): string {
    const d = makeTempDir(prefix);
    this.dirs.push(d);
    return d;
  }
  /** Removes the dirs, first killing any dv process still running in them (removal
   * retries while a killed process lets go). */
  cleanup(): void {
    killStrayProcesses();
    for (const d of this.dirs.splice(0)) removeDir(d);
  }
}

// ---------------------------------------------------------------------------
// Running the CLI
// ---------------------------------------------------------------------------

export interface RunResult {
  /** Exit status, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Raw stdout (for `dv cat` of binary files). */
  stdoutBytes: Buffer;
}

export interface RunOptions {
  /** Extra environment variables (undefined removes one). */
  env?: Record<string, string | undefined>;
  /** Kill the process (SIGKILL) and fail after this long. */
  timeoutMs?: number;
}

function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DV_AUTHOR: TEST_AUTHOR };
  // Never let the developer's own settings leak into a test.
  delete env.DV_LOCK_WAIT_MS;
  delete env.DV_BLAKE3;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface DvProcess {
  child: ChildProcess;
  /** Settles when the process has exited and its output is closed. */
  done: Promise<RunResult>;
  /** True once the process has exited. */
  exited(): boolean;
}

const running = new Set<ChildProcess>();

/** SIGKILLs every dv process this test file started that is still running (a test that
 * failed half-way must not leave one writing into a directory being removed). */
export function killStrayProcesses(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Starts `node bin/dv.js ARGS` in `cwd` with no TTY (stdin closed, output piped). */
export function spawnDv(cwd: string, args: string[], opts: RunOptions = {}): DvProcess {
  ensureBuilt();
  const child = spawn(process.execPath, [DV_BIN, ...args], {
    cwd,
    env: childEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  let hasExited = false;
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => { hasExited = true; });
    running.add(child);
    child.on('close', (code, signal) => {
      running.delete(child);
      hasExited = true;
      if (timer) clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
  });
  if (opts.timeoutMs) {
    timer = setTimeout(() => {
      if (!hasExited) child.kill('SIGKILL');
    }, opts.timeoutMs);
  }
  return { child, done, exited: () => hasExited };
}

/** Runs `dv ARGS` in `cwd` to completion. */
export function dv(cwd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return spawnDv(cwd, args, { timeoutMs: 120_000, ...opts }).done;
}

/** A readable one-line summary of a run, for assertion messages. */
export function describeRun(args: string[], r: RunResult): string {
  return `dv ${args.join(' ')} -> code ${r.code}${r.signal ? ` (${r.signal})` : ''}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 2000)}`;
}

/** Runs `dv ARGS` and throws (with its output) unless it exits 0. */
export async function dvOk(cwd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await dv(cwd, args, opts);
  if (r.code !== 0) throw new Error(`expected success: ${describeRun(args, r)}`);
  return r;
}

/** Runs `dv ARGS --json` (the caller includes --json) and parses stdout. */
export async function dvJson<T = unknown>(cwd: string, args: string[], opts: RunOptions = {}): Promise<T> {
  const r = await dvOk(cwd, args, opts);
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout of dv ${args.join(' ')} is not one JSON document:\n${r.stdout}`);
  }
}

export interface TreeEntry { path: string; hash: string; mode: number }

/** What HEAD holds in the repository at `root`: path, content hash and mode of every file. */
export async function committedTree(root: string): Promise<TreeEntry[]> {
  return (await dvJson<TreeEntry[]>(root, ['ls', '-r', '--json', 'HEAD'])).map(({ path: p, hash, mode }) => ({ path: p, hash, mode }));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every few ms until it is true or `timeoutMs` passes; returns whether it became true. */
export async function waitFor(cond: () => boolean, timeoutMs = 10_000, everyMs = 5): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await sleep(everyMs);
  }
  return cond();
}

// ---------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------

/**
 * A seeded pseudo-random generator. Bytes come from the AES-256-CTR keystream under a
 * key derived from the seed (fast: large test files cost little), small numbers from
 * mulberry32. Equal seeds give equal output on every machine.
 */
export class SeededRandom {
  private cipher: crypto.Cipher;
  private state: number;

  constructor(readonly seed: string | number) {
    const key = crypto.createHash('sha256').update(`dv-test-seed:${seed}`).digest();
    this.cipher = crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
    this.state = key.readUInt32LE(0);
  }

  bytes(n: number): Buffer {
    return this.cipher.update(Buffer.alloc(n));
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, max). */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
}

/** Deterministic random bytes for a seed. */
export function randomBytes(size: number, seed: string | number): Buffer {
  return new SeededRandom(seed).bytes(size);
}

/** Writes `content` at root/rel, creating directories. */
export function writeFile(root: string, rel: string, content: string | Uint8Array, mode?: number): string {
  const abs = path.join(root, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, content);
  if (mode !== undefined) fs.chmodSync(abs, mode);
  return abs;
}

/** Writes `size` seeded random bytes at root/rel, streamed in blocks (any size, flat memory). */
export function writeRandomFile(root: string, rel: string, size: number, seed: string | number): string {
  const abs = path.join(root, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const rnd = new SeededRandom(seed);
  const fd = fs.openSync(abs, 'w');
  try {
    const block = 4 << 20;
    for (let done = 0; done < size; ) {
      const n = Math.min(block, size - done);
      fs.writeSync(fd, rnd.bytes(n));
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return abs;
}

/** Sets a file's atime and mtime to `whenMs` (whole milliseconds since the epoch). */
export function setMtime(abs: string, whenMs: number): void {
  fs.utimesSync(abs, new Date(whenMs), new Date(whenMs));
}

/** Moves the mtime of every file under `dir` `ageMs` into the past, so dv's stat cache
 * records them (dv does not trust files modified within its racy window). */
export function ageFiles(dir: string, ageMs = 60_000): void {
  const when = Math.floor((Date.now() - ageMs) / 1000) * 1000;
  for (const rel of listFiles(dir)) setMtime(path.join(dir, rel), when);
}

// ---------------------------------------------------------------------------
// Inspecting trees
// ---------------------------------------------------------------------------

/** Every regular file under `dir`, relative, '/'-separated, sorted. Skips .dv and .git. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const visit = (rel: string): void => {
    for (const d of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) { if (d.name !== '.dv' && d.name !== '.git') visit(p); }
      else if (d.isFile()) out.push(p);
    }
  };
  if (fs.existsSync(dir)) visit('');
  return out.sort();
}

/** SHA-256 of a file (independent of dv's own BLAKE3 code), streamed. */
export function sha256File(abs: string): string {
  const h = crypto.createHash('sha256');
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
  return h.digest('hex');
}

/** path -> "sha256 mode" for every file under `dir` (mode: 755 if executable, else 644). */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of listFiles(dir)) {
    const abs = path.join(dir, rel);
    const exec = fs.statSync(abs).mode & 0o111 ? '755' : '644';
    out[rel] = `${sha256File(abs)} ${exec}`;
  }
  return out;
}

/** The lines commands appended to `<root>/ran.log` since the last call (the log is consumed). */
export function takeRanLog(root: string): string[] {
  const f = path.join(root, 'ran.log');
  if (!fs.existsSync(f)) return [];
  const lines = fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean);
  fs.unlinkSync(f);
  return lines;
}

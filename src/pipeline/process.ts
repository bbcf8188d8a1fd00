// Starting a command's process and collecting how it ended, with the tails of its
// stdout and stderr. Two ways, same result: the native addon's posix_spawn
// (native/spawn.c: no fork of this large process), or Node's child_process when the
// addon is absent or DV_NATIVE=0. Either way output goes to .dv-stdout and
// .dv-stderr in the job's scratch directory, where `dv runs logs` and the live
// progress line read a running datum's output. Either way the child leads its own process group, so the caller
// can signal the whole group.
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { nativeAddon } from '../store/native-addon.js';

export interface ProcessSpec {
  file: string;
  args: string[];
  /** argv[0] the program sees; default `file`. */
  argv0?: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** A directory of the job's own where output files may go (the native path uses it). */
  scratch: string;
  /** Bytes kept from the end of stdout and of stderr. */
  maxLogBytes: number;
}

export interface ProcessExit {
  code: number | null;
  signal: string | null;
  /** Set when the process could not be started at all. */
  error?: Error;
  stdout: Buffer;
  stderr: Buffer;
  truncated: boolean;
}

export interface StartedProcess {
  /** Undefined when it could not be started. */
  pid: number | undefined;
  /** Signals its whole process group (default: kill(-pid) here; the sandbox's runner does it inside). */
  kill?(sig: NodeJS.Signals): void;
  exited: Promise<ProcessExit>;
}

/** Events of a native spawn: started (a = pid), not started (a = errno), exited (a = code or -1, b = signal). */
const STARTED = 0, NOT_STARTED = 1;
type NativeSpawn = (file: string, argv: string[], envp: string[], cwd: string, stdoutPath: string,
  stderrPath: string, onEvent: (kind: number, a: number, b: number) => void) => void;

function nativeSpawn(): NativeSpawn | null {
  const fn = nativeAddon()?.spawn;
  return typeof fn === 'function' ? (fn as NativeSpawn) : null;
}

/** Which implementation startProcess uses here: 'native' or 'node'. */
export function spawnImplementation(): 'native' | 'node' {
  return nativeSpawn() ? 'native' : 'node';
}

/** Starts `spec` the native way when the addon has it (unless `via` says 'node'). */
export function startProcess(spec: ProcessSpec, via: 'native' | 'node' = 'native'): StartedProcess {
  const native = via === 'native' ? nativeSpawn() : null;
  return native ? startNative(spec, native) : startNode(spec);
}

const signalName = (n: number): string =>
  Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;

function startNative(spec: ProcessSpec, native: NativeSpawn): StartedProcess {
  const out = join(spec.scratch, '.dv-stdout');
  const err = join(spec.scratch, '.dv-stderr');
  const envp = Object.entries(spec.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  let resolveExit!: (e: ProcessExit) => void;
  const exited = new Promise<ProcessExit>((resolve) => { resolveExit = resolve; });
  const none = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), truncated: false };
  // The child starts on the addon's thread: its pid comes a moment later, and a signal
  // sent before then is delivered when it does.
  let pid: number | undefined;
  let early: NodeJS.Signals | null = null;
  let gone = false;
  const signalGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid!, sig);
    } catch { /* already gone */ }
  };
  try {
    native(spec.file, [spec.argv0 ?? spec.file, ...spec.args], envp, spec.cwd, out, err, (kind, a, b) => {
      if (kind === STARTED) {
        pid = a;
        if (early) signalGroup(early);
        return;
      }
      gone = true;
      if (kind === NOT_STARTED) {
        resolveExit({ code: null, signal: null, error: Object.assign(new Error(errnoText(a)), { errno: a }), ...none });
        return;
      }
      const o = readTail(out, spec.maxLogBytes);
      const e = readTail(err, spec.maxLogBytes);
      resolveExit({
        code: a < 0 ? null : a, signal: b ? signalName(b) : null,
        stdout: o.data, stderr: e.data, truncated: o.truncated || e.truncated,
      });
    });
  } catch (e) {
    resolveExit({ code: null, signal: null, error: e as Error, ...none });
    return { pid: undefined, exited };
  }
  return {
    get pid() { return pid; },
    kill(sig) {
      if (gone) return;
      if (pid === undefined) early = sig;
      else signalGroup(sig);
    },
    exited,
  };
}

/** `ENOENT: no such file or directory` for an errno number. */
function errnoText(n: number): string {
  const [name, message] = getSystemErrorMap().get(-n) ?? [`errno ${n}`, 'could not start'];
  return `${name}: ${message}`;
}

/** The last `max` bytes of a file (empty if it is missing). */
export function readTail(file: string, max: number): { data: Buffer; truncated: boolean } {
  // Most commands write nothing to one or both: a stat, not an open, fstat and close.
  if ((statSync(file, { throwIfNoEntry: false })?.size ?? 0) === 0) return { data: Buffer.alloc(0), truncated: false };
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { data: Buffer.alloc(0), truncated: false };
  }
  try {
    const size = fstatSync(fd).size;
    const n = Math.min(size, max);
    const data = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const r = readSync(fd, data, got, n - got, size - n + got);
      if (r === 0) break;
      got += r;
    }
    return { data: data.subarray(0, got), truncated: size > max };
  } finally {
    closeSync(fd);
  }
}

/** Output goes to the same files as the native path's, so running logs can be read the same way. */
function startNode(spec: ProcessSpec): StartedProcess {
  const outFile = join(spec.scratch, '.dv-stdout');
  const errFile = join(spec.scratch, '.dv-stderr');
  const out = openSync(outFile, 'w');
  const err = openSync(errFile, 'w');
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(spec.file, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      argv0: spec.argv0,
      stdio: ['ignore', out, err],
      detached: true, // own process group
    });
  } finally {
    closeSync(out);
    closeSync(err);
  }
  const exited = new Promise<ProcessExit>((resolve) => {
    const done = (code: number | null, signal: string | null, error?: Error): void => {
      const o = readTail(outFile, spec.maxLogBytes);
      const e = readTail(errFile, spec.maxLogBytes);
      resolve({ code, signal, error, stdout: o.data, stderr: e.data, truncated: o.truncated || e.truncated });
    };
    child.once('error', (e) => done(null, null, e));
    child.once('close', (code, sig) => done(code, sig));
  });
  return { pid: child.pid, exited };
}

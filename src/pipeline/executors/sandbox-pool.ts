// Batch containers for the sandbox executor: one bubblewrap container serves up to
// `batch` datums of a stage (the stage's `batch:`, else DEFAULT_BATCH), so the cost of
// a container (namespaces, /proc, /dev, the mounts: ~8 ms, most of it --proc/--dev and
// --unshare-net) is paid once per batch instead of once per datum. Inside, the runner
// (sandbox-runner.ts) starts each datum in a mount namespace of its own built from
// the ops dv sends (see native/spawn.c spawnIsolated): each datum still sees only its
// own input, scratch and outs, and a fresh /tmp. What the datums of one batch share
// is what a container gives: the pid, IPC, UTS and network namespaces.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ProcessExit, StartedProcess } from '../process.js';
import { readTail } from '../process.js';

/** Datums per container when the stage does not say `batch:`. */
export const DEFAULT_BATCH = 128;
/** Where the runner sees the project, the scratch space and itself; each datum unmounts it. */
export const STAGE_DIR = '/.dv-stage';

export interface DatumStart {
  file: string;
  argv: string[];
  env: string[];
  /** Host paths of the datum's log files (in its scratch directory) and the runner's view of them. */
  logs: { out: string; err: string; outInside: string; errInside: string };
  ops: string[];
  maxLogBytes: number;
}

interface Pending { resolve(e: ProcessExit): void; logs: DatumStart['logs']; max: number }

class Container {
  served = 0;
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: string | null = null;

  constructor(bwrap: string, args: string[], private readonly onGone: (c: Container) => void) {
    this.child = spawn(bwrap, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
    let stderr = '';
    this.child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.message(line));
    this.child.on('error', (e) => this.gone(`could not start bwrap: ${e.message}`));
    this.child.on('close', (code, sig) => this.gone(`the sandbox ended (${sig ?? `status ${code}`}): ${stderr.trim().split('\n').pop() ?? ''}`));
  }

  get busy(): number {
    return this.pending.size;
  }

  run(d: DatumStart): StartedProcess {
    const id = this.nextId++;
    this.served++;
    const exited = new Promise<ProcessExit>((resolve) => {
      this.pending.set(id, { resolve, logs: d.logs, max: d.maxLogBytes });
    });
    if (this.dead) this.finish(id, { error: new Error(this.dead) });
    else this.send({ t: 'run', id, file: d.file, argv: d.argv, env: d.env, out: d.logs.outInside, err: d.logs.errInside, ops: d.ops });
    // The runner's pid namespace numbers mean nothing here: signals go through it.
    return { pid: this.child.pid ?? 0, exited, kill: (sig) => this.send({ t: 'kill', id, sig }) };
  }

  /** No more datums: the runner exits once the running ones did. */
  retire(): void {
    this.child.stdin!.end();
  }

  private send(m: object): void {
    if (!this.dead && this.child.stdin!.writable) this.child.stdin!.write(`${JSON.stringify(m)}\n`);
  }

  private message(line: string): void {
    let m: { t: string; id?: number; code?: number; signal?: number; message?: string };
    try { m = JSON.parse(line); } catch { return; }
    if (m.t === 'exit') this.finish(m.id!, { code: m.code! < 0 ? null : m.code!, signal: m.signal ? signalName(m.signal) : null });
    else if (m.t === 'error') this.finish(m.id!, { error: new Error(m.message) });
  }

  private finish(id: number, how: { code?: number | null; signal?: string | null; error?: Error }): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    const o = readTail(p.logs.out, p.max);
    const e = readTail(p.logs.err, p.max);
    p.resolve({ code: how.code ?? null, signal: how.signal ?? null, error: how.error, stdout: o.data, stderr: e.data, truncated: o.truncated || e.truncated });
  }

  private gone(why: string): void {
    if (this.dead) return;
    this.dead = why;
    for (const id of [...this.pending.keys()]) this.finish(id, { error: new Error(why) });
    this.onGone(this);
  }
}

const signalName = (n: number): string => {
  const names: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 15: 'SIGTERM', 24: 'SIGXCPU', 25: 'SIGXFSZ' };
  return names[n] ?? `signal ${n}`;
};

/** The open containers, one current per key (a stage and its container options). */
export class SandboxPool {
  private readonly current = new Map<string, Container>();
  /** The container that takes over from the current one, started while that one is half used. */
  private readonly next = new Map<string, Container>();
  private readonly all = new Set<Container>();

  constructor(private readonly bwrap: string) {}

  /** Starts a datum in the key's container, moving to a new one when it served `batch` datums. */
  run(key: string, batch: number, containerArgs: () => string[], d: DatumStart): StartedProcess {
    let c = this.current.get(key);
    if (c && c.served >= batch) {
      c.retire();
      c = this.next.get(key);
      this.next.delete(key);
      if (c) this.current.set(key, c);
      else this.current.delete(key);
    }
    if (!c) this.current.set(key, (c = this.open(key, containerArgs)));
    // The successor starts in the background, so no datum waits for a container to come up.
    if (batch > 1 && c.served + 1 >= batch / 2 && !this.next.has(key)) this.next.set(key, this.open(key, containerArgs));
    return c.run(d);
  }

  private open(key: string, containerArgs: () => string[]): Container {
    const made: Container = new Container(this.bwrap, containerArgs(), (gone) => {
      this.all.delete(gone);
      if (this.current.get(key) === gone) this.current.delete(key);
      if (this.next.get(key) === gone) this.next.delete(key);
    });
    this.all.add(made);
    return made;
  }

  close(): void {
    for (const c of this.all) c.retire();
    this.current.clear();
    this.next.clear();
  }
}

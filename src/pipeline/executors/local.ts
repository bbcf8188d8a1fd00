// The plain local executor: each datum's command as a child process of dv, in the
// project directory, with a scratch directory under .dv/tmp for its \${out} files.
// No isolation: the command sees the whole machine as the invoking user does.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { findProgram, plainWords } from '../argv.js';
import { startProcess, type ProcessSpec, type StartedProcess } from '../process.js';
import { interpolate, type Bindings } from '../interpolate.js';
import { workspaceBindings } from '../plan.js';
import type { Params, StageConfig } from '../types.js';
import { inPlaceTargets, JOB_FILE, type Executor, type Job, type JobOutput, type JobResult } from '../executor.js';

export interface LocalExecutorOptions {
  /** Project root: the command's cwd, so relative dep paths work. */
  root: string;
  /** Where scratch directories go; default `<root>/.dv/tmp` (same filesystem, so renames work). */
  tmpDir?: string;
  /** Shell for `-c CMD`; default /bin/sh, which also lets plain commands run without it. */
  shell?: string;
  /** Bytes kept from the end of stdout and of stderr. */
  maxLogBytes?: number;
  /** Base environment; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Time between SIGTERM and SIGKILL on cancel or timeout. */
  killGraceMs?: number;
  /** 'node' forces Node's child_process even where the native spawner is built (tests). */
  spawnVia?: 'native' | 'node';
}

export async function walkFiles(dir: string, rel: string, out: { rel: string; abs: string }[]): Promise<string | null> {
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const abs = join(dir, e.name);
    const r = `${rel}/${e.name}`;
    if (e.isDirectory()) {
      const err = await walkFiles(abs, r, out);
      if (err) return err;
    } else if (e.isFile()) out.push({ rel: r, abs });
    else if (e.isSymbolicLink()) return `output ${r} is a symbolic link (dv stores regular files only)`;
  }
  return null;
}

/** Milliseconds on a monotonic clock. (The global `performance` loads perf_hooks, eight
 * internal modules, on first use: 1.5 ms into a run's first datum.) */
const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** The directories a job's scratch copy of the stage's outs needs. */
function scratchLayout(stage: StageConfig, dir: string): string[] {
  return stage.outs.map((o) => join(dir, stage.outDirs.includes(o) ? o : dirname(o)));
}

/** Files a scratch directory may keep between jobs (their logs, and whose job it was). */
const KEPT = new Set(['.dv-stdout', '.dv-stderr', JOB_FILE]);

/** Whether `dir` holds nothing but the (empty) directories `layout` names and their parents, and KEPT files. */
function isBare(dir: string, layout: string[]): boolean {
  const dirs = new Set<string>();
  for (const d of layout) for (let p = d; p.length > dir.length; p = dirname(p)) dirs.add(p);
  const bare = (at: string): boolean => {
    let entries;
    try {
      entries = readdirSync(at, { withFileTypes: true });
    } catch {
      return false;
    }
    return entries.every((e) => {
      const p = join(at, e.name);
      if (e.isDirectory()) return dirs.has(p) && bare(p);
      return at === dir && e.isFile() && KEPT.has(e.name);
    });
  };
  return bare(dir) && layout.every((d) => lstatOrNull(d)?.isDirectory() === true);
}

/**
 * Writes whose job a scratch directory runs (`{}`: none) over what JOB_FILE held,
 * padded with spaces to its size (at least 1 KiB), so that the file is never
 * truncated: on ext4 a truncate costs a journal transaction of its own.
 */
function markJob(scratch: string, json: string): void {
  const fd = openSync(join(scratch, JOB_FILE), constants.O_WRONLY | constants.O_CREAT);
  try {
    writeSync(fd, json.padEnd(Math.max(fstatSync(fd).size, 1024)), 0);
  } finally {
    closeSync(fd);
  }
}

/** The lstat of a path, or null when there is nothing (or nothing reachable) there. */
export function lstatOrNull(p: string): ReturnType<typeof lstatSync> | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

export class LocalExecutor implements Executor {
  readonly name: string = 'local';
  readonly prepares = true;
  private readonly tmpDir: string;
  private tmpReady = false;
  private programs = new Map<string, string | null>();
  /** Per stage: scratch directories ready for a job (left clean by one, or made in the background while a command ran). */
  private ready = new Map<string, string[]>();
  private making = new Map<string, Promise<void>>();
  /** Scratch directories handed to a job and not yet given back. */
  private lent = new Set<string>();

  constructor(protected readonly opts: LocalExecutorOptions) {
    this.tmpDir = opts.tmpDir ?? join(opts.root, '.dv', 'tmp');
  }

  /** What to spawn for a command line: the program itself when the shell would only split words. */
  launch(cmd: string, env: NodeJS.ProcessEnv): { file: string; args: string[]; argv0?: string } {
    const words = this.opts.shell === undefined ? plainWords(cmd) : null;
    if (words) {
      const key = `${env.PATH ?? ''}\0${words[0]}`;
      if (!this.programs.has(key)) this.programs.set(key, findProgram(words[0]!, env.PATH, this.opts.root));
      const file = this.programs.get(key);
      if (file) return { file, args: words.slice(1), argv0: words[0] };
    }
    return { file: this.opts.shell ?? '/bin/sh', args: ['-c', cmd] };
  }

  /** Environment of a job: the base, the stage's env, then DV_* (which win). */
  environment(job: Job, scratch: string, b: Bindings): NodeJS.ProcessEnv {
    const { stage, datum, params } = job;
    const stageEnv = Object.fromEntries(Object.entries(stage.env).map(([k, v]) => [k, interpolate(v, b, 'raw')]));
    const used: Params = {};
    for (const p of stage.params) used[p] = params[p] ?? null;
    return {
      ...this.baseEnv(),
      ...stageEnv,
      ...job.env,
      DV_STAGE: stage.name,
      DV_DATUM: datum.id,
      DV_INPUT: datum.input === null ? '' : join(this.opts.root, datum.input),
      DV_OUTPUT: b.out ?? '',
      DV_OUTPUT_DIR: b.outdir ?? '',
      DV_OUTS_JSON: JSON.stringify(b.outs),
      DV_DEPS_JSON: JSON.stringify(stage.deps),
      DV_PARTITION_KEY: datum.key ?? '',
      DV_PARAMS_JSON: JSON.stringify(used),
      DV_RUN_ID: job.runId,
      DV_ATTEMPT: String(job.attempt),
      DV_WORKSPACE: this.opts.root,
      DV_SCRATCH: scratch,
    };
  }

  /** Hooks for executors built on this one (sandbox.ts): the environment a job starts from, */
  protected baseEnv(): NodeJS.ProcessEnv {
    // A plain copy, made once: reading process.env asks the C library for every variable.
    this.env ??= { ...(this.opts.env ?? process.env) };
    return this.env;
  }
  private env: NodeJS.ProcessEnv | undefined;

  /** what is spawned for its command line, */
  protected launchFor(_job: Job, cmd: string, env: NodeJS.ProcessEnv, _scratch: string): { file: string; args: string[]; argv0?: string } {
    return this.launch(cmd, env);
  }

  /** how that is started, */
  protected start(_job: Job, spec: ProcessSpec): StartedProcess {
    return startProcess(spec, this.opts.spawnVia);
  }

  /** work on its scratch directory before it starts and after it exited, */
  protected beforeStart(_job: Job, _scratch: string): Promise<void> | void {}
  protected async afterExit(_job: Job, _scratch: string): Promise<void> {}

  /** and the words for a failed exit. */
  protected explainFailure(_job: Job, exit: { code: number | null; signal: string | null; stderr: Buffer }): string {
    return exit.signal ? `killed by ${exit.signal}` : `exited with status ${exit.code}`;
  }

  async run(job: Job, signal?: AbortSignal): Promise<JobResult> {
    const { stage, datum } = job;
    let startedAt = new Date();
    let t0 = monotonicMs();
    const scratch = this.takeScratch(stage);
    const dispose = (): Promise<void> => this.giveBack(stage, scratch);
    const sp = (p: string): string => join(scratch, p);
    const outs = stage.outs.map(sp);
    const out = datum.out === null ? null : sp(datum.out);
    if (out && !scratchLayout(stage, scratch).includes(dirname(out))) mkdirSync(dirname(out), { recursive: true }); // the datum's own subdirectories
    const targets = job.inPlace ? inPlaceTargets(stage, datum) : [];
    const clear = targets.filter((o) => !stage.persist.includes(o));
    // Usually nothing is there (the caller set the previous outputs aside): a sync lstat
    // then, not a trip through the thread pool before every command starts.
    const clearInPlace = async (): Promise<void> => {
      const there = clear.map((o) => join(this.opts.root, o)).filter((abs) => lstatOrNull(abs) !== null);
      await Promise.all(there.map((abs) => rm(abs, { recursive: true, force: true })));
    };
    await clearInPlace();
    // A command writing its output in place finds the directory that holds it.
    for (const o of targets) mkdirSync(dirname(join(this.opts.root, o)), { recursive: true });

    const base = { startedAt: startedAt.toISOString(), dispose };
    const finish = async (r: Omit<JobResult, 'startedAt' | 'dispose' | 'durationMs'>): Promise<JobResult> => {
      if (r.status !== 'succeeded') await Promise.all([dispose(), clearInPlace()]);
      return { ...base, ...r, durationMs: Math.round(monotonicMs() - t0) };
    };
    const none = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), truncated: false };
    if (signal?.aborted) return finish({ ...none, status: 'cancelled', exitCode: null, signal: null, error: 'cancelled', outputs: [] });
    const before = this.beforeStart(job, scratch);
    if (before) await before;

    // Same template as the planner's, but ${out}/${outdir}/${outs} name the scratch copies.
    const bindings: Bindings = {
      ...workspaceBindings(stage, datum, job.params), out, outs,
      outdir: stage.foreach !== null ? outs[0]! : null,
    };
    const env = this.environment(job, scratch, bindings);
    const spec: ProcessSpec = {
      ...this.launchFor(job, interpolate(stage.cmd, bindings, 'shell'), env, scratch),
      cwd: stage.wdir ? join(this.opts.root, stage.wdir) : this.opts.root, env, scratch, maxLogBytes: this.opts.maxLogBytes ?? 1 << 20,
    };
    // Ready: from here on the job counts as running (its time, its marker).
    if (job.turn && !(await job.turn())) return finish({ ...none, status: 'cancelled', exitCode: null, signal: null, error: 'cancelled', outputs: [] });
    if (signal?.aborted) return finish({ ...none, status: 'cancelled', exitCode: null, signal: null, error: 'cancelled', outputs: [] });
    startedAt = new Date();
    t0 = monotonicMs();
    base.startedAt = startedAt.toISOString();
    // Who this scratch directory belongs to, for `dv runs logs` and the live progress line
    // (written here, not by the thread pool: a trip there costs more than the write).
    markJob(scratch, JSON.stringify({ runId: job.runId, stage: stage.name, datum: datum.id, attempt: job.attempt, startedAt: base.startedAt }));
    const child = this.start(job, spec);

    let stopped: 'cancelled' | 'timeout' | null = null;
    const stop = (why: 'cancelled' | 'timeout'): void => {
      if (stopped || (child.pid === undefined && !child.kill)) return; // a child that never started (a native one may not know its pid yet)
      stopped = why;
      const kill = (sig: NodeJS.Signals): void => {
        try {
          if (child.kill) child.kill(sig);
          else process.kill(-child.pid!, sig);
        } catch { /* already gone */ }
      };
      kill('SIGTERM');
      setTimeout(() => kill('SIGKILL'), this.opts.killGraceMs ?? 5000).unref();
    };
    const onAbort = (): void => stop('cancelled');
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = stage.timeoutSec === null ? null : setTimeout(() => stop('timeout'), stage.timeoutSec * 1000);
    const exit = await child.exited;
    signal?.removeEventListener('abort', onAbort);
    if (timer) clearTimeout(timer);
    await this.afterExit(job, scratch);

    const fields = {
      exitCode: exit.code, signal: exit.signal, outputs: [] as JobOutput[],
      stdout: exit.stdout, stderr: exit.stderr, truncated: exit.truncated,
    };
    if (stopped === 'cancelled') return finish({ ...fields, status: 'cancelled', error: 'cancelled' });
    if (stopped === 'timeout') return finish({ ...fields, status: 'failed', error: `timed out after ${stage.timeoutSec}s` });
    if (exit.error) return finish({ ...fields, status: 'failed', error: `could not start: ${exit.error.message}` });
    if (exit.code !== 0) {
      const error = this.explainFailure(job, exit);
      return finish({ ...fields, status: 'failed', error });
    }
    const collected = await this.collect(job, scratch, startedAt.getTime());
    if (typeof collected === 'string') return finish({ ...fields, status: 'failed', error: collected });
    return finish({ ...fields, status: 'succeeded', error: null, outputs: collected });
  }

  /**
   * A scratch directory holding the stage's out directories (empty). Creating files
   * and directories is the slowest metadata operation on many filesystems (an inode
   * and a journal block each; on ext4 it slows down further as deleted inodes pile
   * up), so a job gives its directory back for the next one once its outputs were
   * moved out, and when none is free the next is made in the background while this
   * job's command runs.
   */
  private takeScratch(stage: StageConfig): string {
    if (!this.tmpReady) mkdirSync(this.tmpDir, { recursive: true });
    this.tmpReady = true;
    const prefix = join(this.tmpDir, `job-${stage.name}-`);
    let dir = this.ready.get(stage.name)?.pop();
    if (!dir) {
      dir = mkdtempSync(prefix);
      for (const d of scratchLayout(stage, dir)) mkdirSync(d, { recursive: true });
    }
    this.lent.add(dir);
    if (!this.making.has(stage.name) && !this.ready.get(stage.name)?.length) {
      const next = (async () => {
        const made = await mkdtemp(prefix);
        for (const d of scratchLayout(stage, made)) await mkdir(d, { recursive: true });
        this.ready.set(stage.name, [made, ...(this.ready.get(stage.name) ?? [])]); // after those given back
      })().catch(() => undefined).finally(() => this.making.delete(stage.name));
      this.making.set(stage.name, next);
    }
    return dir;
  }

  /**
   * A job's scratch directory back: ready for the next job when it holds nothing but
   * the empty out directories and the log files (truncated when the next job starts),
   * removed otherwise. Once per job; later calls do nothing.
   */
  private async giveBack(stage: StageConfig, dir: string): Promise<void> {
    if (!this.lent.delete(dir)) return;
    if (isBare(dir, scratchLayout(stage, dir))) {
      markJob(dir, '{}'); // no job runs here now (done here, after the job's result is in: not in its way)
      this.ready.set(stage.name, [...(this.ready.get(stage.name) ?? []), dir]);
    } else await rm(dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    await Promise.all(this.making.values());
    const unused = [...this.ready.values()].flat();
    this.ready.clear();
    // At once, on this thread: through libuv's pool, these few deletions queued behind the
    // run's last writes and fsyncs, and the run waited 3-13 ms for them at its end.
    for (const d of unused) rmSync(d, { recursive: true, force: true });
  }

  /**
   * The files under the declared outs, or why they are not acceptable. Each out is
   * looked for in scratch (\${out}) first, then where it belongs in the workspace.
   */
  private async collect(job: Job, scratch: string, started: number): Promise<JobOutput[] | string> {
    const found: { rel: string; abs: string; inPlace: boolean }[] = [];
    const targets = inPlaceTargets(job.stage, job.datum);
    const take = async (o: string, abs: string, inPlace: boolean): Promise<'found' | 'none' | string> => {
      const st = lstatOrNull(abs);
      if (st?.isSymbolicLink()) return `output ${o} is a symbolic link (dv stores regular files only)`;
      if (st?.isFile()) {
        found.push({ rel: o, abs, inPlace });
        return 'found';
      }
      if (!st?.isDirectory()) return 'none';
      const files: { rel: string; abs: string }[] = [];
      const err = await walkFiles(abs, o, files);
      if (err) return err;
      for (const f of files) found.push({ ...f, inPlace });
      return files.length > 0 ? 'found' : 'none';
    };
    for (const o of job.stage.outs) {
      const inScratch = await take(o, join(scratch, o), false);
      if (inScratch !== 'found' && inScratch !== 'none') return inScratch;
      if (inScratch === 'found') continue;
      let any = false;
      for (const t of targets.filter((t) => t === o || t.startsWith(o + '/'))) {
        const abs = join(this.opts.root, t);
        if (!job.inPlace && !(await stat(abs).then((s) => s.mtimeMs >= started - 1000, () => false))) continue;
        const r = await take(t, abs, true);
        if (r !== 'found' && r !== 'none') return r;
        any ||= r === 'found';
      }
      if (!any && !job.stage.outDirs.includes(o)) return `did not write output ${o}`;
    }
    const outputs: JobOutput[] = [];
    for (const f of found) {
      const st = statSync(f.abs);
      outputs.push({ path: f.rel, file: f.abs, size: st.size, mode: st.mode & 0o111 ? 0o755 : 0o644, inPlace: f.inPlace || undefined });
    }
    return outputs;
  }
}

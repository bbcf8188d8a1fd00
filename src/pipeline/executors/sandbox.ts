// The sandbox executor (`isolation: sandbox`): each datum's command isolated with
// bubblewrap (`bwrap`), so a run is hermetic the way Bazel's sandbox makes it. The
// command sees the system directories read-only, of the project only what the stage
// declares (deps, the datum's input, params.yaml), read-only: an undeclared read fails
// with "No such file or directory" naming the path, instead of silently making the
// run-cache wrong. Its outs are writable where they belong (bind mounts of the job's
// scratch directory, so nothing outside the outs can be written), /tmp is private,
// and the network is its own unless the stage says `network: true`. An identity runs
// the command as its own uid/gid; `resources` become a cgroup where one is writable
// (cgroups.ts), else rlimits, plus CPU affinity; a breach is named in the datum's
// error (dv runs show).
//
// How, as root with the native addon: one container per batch of a stage's datums
// (sandbox-pool.ts; `batch:` datums, default 128), each datum started inside it in a
// mount namespace of its own built by a few mount calls (datumOps below, run by
// native/spawn.c). Measured first: a bwrap start is ~8 ms quiet, most of it /proc,
// /dev and --unshare-net, its mount namespace ~1 ms; a datum's own mount namespace
// and a dozen binds cost well under 1 ms, so per-datum input isolation stays while
// the container is paid once per batch. Binding each datum's input at a path only it
// sees needs exactly that private namespace; running the datums one bwrap each (the
// fallback, below: not root, no addon, DV_SANDBOX_BATCH=0) costs a container each.
// A stage with S3 access keeps its own network: its container reaches the job
// endpoint through a unix socket (endpoint-bridge.ts) the runner serves on loopback
// (in the fallback too, the runner in front of the one datum).
// Everything else (scratch directories, timeouts, collecting outputs) is
// LocalExecutor's, through its hooks.
import { chownSync, cpSync, existsSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DvError } from '../../store/errors.js';
import { nativeAddon } from '../../store/native-addon.js';
import { findProgram, plainWords } from '../argv.js';
import type { IdentityConfig } from '../config-sandbox.js';
import type { Job } from '../executor.js';
import type { ProcessSpec, StartedProcess } from '../process.js';
import { LocalExecutor, lstatOrNull, type LocalExecutorOptions } from './local.js';
import { cgroupParents, DatumCgroup, type Controller } from './cgroups.js';
import { EndpointBridge } from './endpoint-bridge.js';
import { DEFAULT_BATCH, SandboxPool, STAGE_DIR } from './sandbox-pool.js';
import { containerArgs, datumOps, isSystemPath, perDatumArgs, type Bridge, type View } from './sandbox-view.js';

export interface SandboxExecutorOptions extends LocalExecutorOptions {
  /** Declared identities (dv.yaml `identities:` and the repository config's), for stages with `identity:`. */
  identities?: Map<string, IdentityConfig>;
}

const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Variables of dv's own environment a sandboxed command still gets; the rest (keys, tokens) stay out. */
const PASSED_ENV = ['LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TERM', 'SOURCE_DATE_EPOCH'];

const MEMORY_WORDS = /MemoryError|Cannot allocate memory|out of memory|bad_alloc|memory exhausted|ENOMEM|failed to allocate|allocation failed/i;
const PIDS_WORDS = /fork: Resource temporarily unavailable|Cannot fork|can't fork|fork failed|EAGAIN/i;

let bwrapPath: string | null | undefined;

/** Where bwrap is, or one clear error naming the package. */
export function requireBwrap(): string {
  if (bwrapPath === undefined) bwrapPath = findProgram('bwrap', `${process.env.PATH ?? ''}:/usr/bin:/bin`, '/');
  if (!bwrapPath) throw new DvError("isolation: sandbox needs bubblewrap (bwrap), which is not installed: install the Debian package 'bubblewrap' (apt-get install bubblewrap)");
  return bwrapPath;
}

const isRoot = (): boolean => process.getuid?.() === 0;

export class SandboxExecutor extends LocalExecutor {
  override readonly name = 'sandbox';
  private readonly bwrap: string;
  /** Per scratch directory: out files made empty as mount points, with their mtime. */
  private readonly placeholders = new Map<string, { path: string; mtimeMs: number }[]>();
  /** Per job: its cgroups while it runs, then what it breached. */
  private readonly cgroups = new WeakMap<Job, DatumCgroup>();
  private readonly breaches = new WeakMap<Job, Controller>();
  /** Per job endpoint port: the unix socket bridged to it, for network-isolated stages with S3 access. */
  private readonly bridges = new Map<number, EndpointBridge>();

  /** Batch containers (root with the native addon's spawnIsolated); else one bwrap per datum. */
  private readonly pool: SandboxPool | null;

  constructor(private readonly sopts: SandboxExecutorOptions) {
    super(sopts);
    this.bwrap = requireBwrap();
    const batched = isRoot() && typeof nativeAddon()?.spawnIsolated === 'function' && process.env.DV_SANDBOX_BATCH !== '0';
    this.pool = batched ? new SandboxPool(this.bwrap) : null;
  }

  /**
   * Whether the network namespace is the job's own (else the host's, with `network:
   * true`). A stage with S3 access reaches its job endpoint through a bridged unix
   * socket, so it needs no host network, in a batch container or a bwrap of its own.
   */
  private ownNetwork(job: Job): boolean {
    return !job.stage.isolation?.network;
  }

  /** The endpoint port a network-isolated sandbox forwards to dv's job endpoint, if any. */
  private forwardedPort(job: Job): number | null {
    const url = job.env?.DV_ENDPOINT;
    if (!url || !job.stage.isolation?.s3 || !this.ownNetwork(job)) return null;
    const u = new URL(url);
    return u.hostname === '127.0.0.1' && u.port ? Number(u.port) : null;
  }

  private bridgeTo(port: number): EndpointBridge {
    let b = this.bridges.get(port);
    if (!b) this.bridges.set(port, (b = new EndpointBridge(port)));
    return b;
  }

  /** The files of the project a datum may read: deps, its input, the params files. */
  private readsOf(job: Job): string[] {
    const { stage, datum } = job;
    const reads = new Set(stage.deps);
    if (datum.input !== null) reads.add(datum.input);
    if (stage.params.length > 0) for (const f of ['params.yaml', 'dv.yaml']) if (existsSync(join(this.opts.root, f))) reads.add(f);
    return [...reads].sort();
  }

  private view(job: Job): View {
    return { root: this.opts.root, stage: job.stage, reads: this.readsOf(job), identity: this.identityOf(job), ownNetwork: this.ownNetwork(job) };
  }

  /** The endpoint bridge of a network-isolated stage with S3 access, if it has one. */
  private bridgeOf(job: Job): Bridge | null {
    const port = this.forwardedPort(job);
    return port === null ? null : { dir: this.bridgeTo(port).dir, port };
  }

  /** The container of a batch (sandbox-view.ts), with this stage's cgroup parents and endpoint bridge. */
  private containerArgs(job: Job): string[] {
    return containerArgs(this.view(job), {
      tmpRoot: this.tmpRoot(),
      cgroupDirs: this.cgroupControllers(job).map((c) => [c, cgroupParents().get(c)!.dir]),
      bridge: this.bridgeOf(job),
    });
  }

  /** The controllers this stage's limits use a cgroup for (where one is writable). */
  private cgroupControllers(job: Job): Controller[] {
    const r = job.stage.isolation?.resources;
    const want: Controller[] = [];
    if (r?.memory) want.push('memory');
    if (r?.pids) want.push('pids');
    return want.filter((c) => cgroupParents().get(c));
  }

  private tmpRoot(): string {
    return this.opts.tmpDir ?? join(this.opts.root, '.dv', 'tmp');
  }

  /** One datum's ops inside its batch's container (sandbox-view.ts), with a cgroup of its own where limits ask for one. */
  private datumOps(job: Job, scratch: string, cwd: string): string[] {
    if (dirname(scratch) !== this.tmpRoot()) throw new DvError(`sandbox: scratch directory ${scratch} is not under ${this.tmpRoot()}`);
    const r = job.stage.isolation?.resources;
    const cg = r?.memory || r?.pids ? DatumCgroup.make(r) : null;
    if (cg) this.cgroups.set(job, cg);
    return datumOps(this.view(job), scratch, cwd, cg);
  }

  protected override start(job: Job, spec: ProcessSpec): StartedProcess {
    if (!this.pool) return super.start(job, spec);
    const batch = job.stage.isolation?.batch ?? DEFAULT_BATCH;
    const key = `${job.stage.name}\0${this.ownNetwork(job)}\0${this.forwardedPort(job)}`;
    const inside = `${STAGE_DIR}/tmp/${basename(spec.scratch)}`;
    return this.pool.run(key, batch, () => this.containerArgs(job), {
      file: spec.file, argv: [spec.argv0 ?? spec.file, ...spec.args],
      env: Object.entries(spec.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])),
      logs: { out: join(spec.scratch, '.dv-stdout'), err: join(spec.scratch, '.dv-stderr'), outInside: `${inside}/.dv-stdout`, errInside: `${inside}/.dv-stderr` },
      ops: this.datumOps(job, spec.scratch, spec.cwd), maxLogBytes: spec.maxLogBytes,
    });
  }

  override async close(): Promise<void> {
    this.pool?.close();
    await Promise.all([...this.bridges.values()].map((b) => b.close()));
    this.bridges.clear();
    await super.close();
  }

  private identityOf(job: Job): IdentityConfig | null {
    const name = job.stage.isolation?.identity ?? null;
    if (name === null) return null;
    const id = this.sopts.identities?.get(name);
    if (!id) throw new DvError(`stage ${job.stage.name}: unknown identity '${name}'`);
    return id;
  }

  protected override baseEnv(): NodeJS.ProcessEnv {
    const from = this.opts.env ?? process.env;
    const env: NodeJS.ProcessEnv = { PATH: SAFE_PATH, HOME: '/tmp', TMPDIR: '/tmp' };
    for (const k of PASSED_ENV) if (from[k] !== undefined) env[k] = from[k];
    return env;
  }

  protected override async beforeStart(job: Job, scratch: string): Promise<void> {
    const { stage } = job;
    const made: { path: string; mtimeMs: number }[] = [];
    for (const o of stage.outs) {
      const inScratch = join(scratch, o);
      const ws = join(this.opts.root, o);
      if (stage.persist.includes(o) && existsSync(ws)) cpSync(ws, inScratch, { recursive: true, force: true });
      // A file out needs a file to mount over; one the command never wrote is dropped again afterwards.
      if (!stage.outDirs.includes(o) && !existsSync(inScratch)) {
        writeFileSync(inScratch, '');
        made.push({ path: inScratch, mtimeMs: statSync(inScratch).mtimeMs });
      }
    }
    this.placeholders.set(scratch, made);
    const id = this.identityOf(job);
    if (id && isRoot()) chownTree(scratch, id.uid, id.gid);
  }

  protected override async afterExit(job: Job, scratch: string): Promise<void> {
    const cg = this.cgroups.get(job);
    if (cg) {
      const b = cg.breach();
      if (b) this.breaches.set(job, b);
      cg.remove();
      this.cgroups.delete(job);
    }
    for (const p of this.placeholders.get(scratch) ?? []) {
      const st = lstatOrNull(p.path);
      if (st && st.isFile() && st.size === 0 && st.mtimeMs === p.mtimeMs) unlinkSync(p.path);
    }
    this.placeholders.delete(scratch);
  }

  protected override launchFor(job: Job, cmd: string, _env: NodeJS.ProcessEnv, scratch: string): { file: string; args: string[] } {
    if (this.pool) {
      const [file, ...args] = this.argvOf(cmd);
      return { file: file!, args };
    }
    return { file: this.bwrap, args: perDatumArgs(this.view(job), scratch, this.argvOf(cmd), isRoot(), this.bridgeOf(job)) };
  }

  /** A plain command line is exec'd directly (one exec less per datum), when its program is a system one. */
  private argvOf(cmd: string): string[] {
    const words = plainWords(cmd);
    if (words) {
      const file = findProgram(words[0]!, SAFE_PATH, '/');
      if (file && isSystemPath(file)) return [file, ...words.slice(1)];
    }
    return ['/bin/sh', '-c', cmd];
  }

  protected override explainFailure(job: Job, exit: { code: number | null; signal: string | null; stderr: Buffer }): string {
    const plain = super.explainFailure(job, exit);
    const r = job.stage.isolation?.resources;
    const breach = this.breaches.get(job);
    if (breach === 'memory') return `memory limit exceeded (resources.memory ${r!.memory} bytes, cgroup): ${plain}`;
    if (breach === 'pids') return `process limit reached (resources.pids ${r!.pids}, cgroup): ${plain}`;
    const tail = exit.stderr.subarray(Math.max(0, exit.stderr.length - 8192)).toString('utf8');
    if (r?.memory && (MEMORY_WORDS.test(tail) || exit.signal === 'SIGKILL' || exit.signal === 'SIGSEGV')) {
      return `memory limit exceeded (resources.memory ${r.memory} bytes): ${plain}`;
    }
    if (r?.pids && PIDS_WORDS.test(tail)) return `process limit reached (resources.pids ${r.pids}): ${plain}`;
    return plain;
  }
}

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) chownTree(p, uid, gid);
    else chownSync(p, uid, gid);
  }
}

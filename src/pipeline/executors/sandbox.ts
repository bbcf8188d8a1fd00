// The sandbox executor (`isolation: sandbox`): each datum's command in a bubblewrap
// (`bwrap`) container, so a run is hermetic the way Bazel's sandbox makes it. The
// command sees the system directories read-only, of the project only what the stage
// declares (deps, the datum's input, params.yaml), read-only: an undeclared read fails
// with "No such file or directory" naming the path, instead of silently making the
// run-cache wrong. Its outs are writable where they belong (bind mounts of the job's
// scratch directory, so nothing outside the outs can be written), /tmp is private,
// and the network is gone unless the stage says `network: true` (or asks for S3
// access, which reaches dv serve on loopback). An identity runs the command as its
// own uid/gid; `resources` become rlimits (prlimit) and CPU affinity (taskset), and a
// breach is named in the datum's error (dv runs show). Everything else (scratch
// directories, timeouts, collecting outputs) is LocalExecutor's, through its hooks.
import { chownSync, cpSync, existsSync, lstatSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { DvError } from '../../store/errors.js';
import { findProgram, plainWords } from '../argv.js';
import type { IdentityConfig } from '../config-sandbox.js';
import type { Job } from '../executor.js';
import { LocalExecutor, type LocalExecutorOptions } from './local.js';

export interface SandboxExecutorOptions extends LocalExecutorOptions {
  /** Declared identities (dv.yaml `identities:`), for stages with `identity:`. */
  identities?: Map<string, IdentityConfig>;
}

const SYSTEM_RO = ['/usr', '/etc'];
const SYSTEM_RO_TRY = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/opt'];
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

  constructor(private readonly sopts: SandboxExecutorOptions) {
    super(sopts);
    this.bwrap = requireBwrap();
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

  protected override async afterExit(_job: Job, scratch: string): Promise<void> {
    for (const p of this.placeholders.get(scratch) ?? []) {
      const st = lstatOrNull(p.path);
      if (st && st.isFile() && st.size === 0 && st.mtimeMs === p.mtimeMs) unlinkSync(p.path);
    }
    this.placeholders.delete(scratch);
  }

  protected override launchFor(job: Job, cmd: string, _env: NodeJS.ProcessEnv, scratch: string): { file: string; args: string[] } {
    const { stage, datum } = job;
    const root = this.opts.root;
    const iso = stage.isolation;
    const a: string[] = ['--die-with-parent', '--new-session', '--unshare-ipc', '--unshare-pid', '--unshare-uts', '--unshare-cgroup-try'];
    if (!iso?.network && !(iso?.s3 && job.env?.DV_ENDPOINT)) a.push('--unshare-net');
    for (const d of SYSTEM_RO) a.push('--ro-bind', d, d);
    for (const d of SYSTEM_RO_TRY) a.push('--ro-bind-try', d, d);
    a.push('--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp');
    // The project: an empty read-only directory with the declared parts mounted in.
    a.push('--tmpfs', root);
    const reads = new Set(stage.deps);
    if (datum.input !== null) reads.add(datum.input);
    if (stage.params.length > 0) for (const f of ['params.yaml', 'dv.yaml']) if (existsSync(join(root, f))) reads.add(f);
    for (const r of [...reads].sort()) a.push('--ro-bind-try', join(root, r), join(root, r));
    a.push('--bind', scratch, scratch);
    for (const o of stage.outs) a.push('--bind', join(scratch, o), join(root, o));
    const cwd = stage.wdir ? join(root, stage.wdir) : root;
    if (stage.wdir) a.push('--dir', cwd);
    a.push('--remount-ro', root, '--chdir', cwd);
    const id = this.identityOf(job);
    if (id && !isRoot()) a.splice(0, 0, '--unshare-user', '--uid', String(id.uid), '--gid', String(id.gid));
    if (!id && isRoot()) a.push('--cap-drop', 'ALL');
    a.push('--');
    const r = iso?.resources;
    if (r?.memory || r?.pids) {
      a.push('prlimit');
      if (r.memory) a.push(`--as=${r.memory}`);
      if (r.pids) a.push(`--nproc=${r.pids}`);
      a.push('--');
    }
    if (r?.cpus) a.push('taskset', '-c', `0-${Math.min(r.cpus, cpus().length) - 1}`);
    // As root the command drops to the identity's own uid/gid (files it writes are theirs).
    if (id && isRoot()) a.push('setpriv', `--reuid=${id.uid}`, `--regid=${id.gid}`, '--clear-groups', '--');
    a.push(...this.argvOf(cmd));
    return { file: this.bwrap, args: a };
  }

  /** A plain command line is exec'd directly (one exec less per datum), when its program is a system one. */
  private argvOf(cmd: string): string[] {
    const words = plainWords(cmd);
    if (words) {
      const file = findProgram(words[0]!, SAFE_PATH, '/');
      if (file && SYSTEM_RO.concat(SYSTEM_RO_TRY).some((d) => file.startsWith(`${d}/`))) return [file, ...words.slice(1)];
    }
    return ['/bin/sh', '-c', cmd];
  }

  protected override explainFailure(job: Job, exit: { code: number | null; signal: string | null; stderr: Buffer }): string {
    const plain = super.explainFailure(job, exit);
    const r = job.stage.isolation?.resources;
    const tail = exit.stderr.subarray(Math.max(0, exit.stderr.length - 8192)).toString('utf8');
    if (r?.memory && (MEMORY_WORDS.test(tail) || exit.signal === 'SIGKILL' || exit.signal === 'SIGSEGV')) {
      return `memory limit exceeded (resources.memory ${r.memory} bytes): ${plain}`;
    }
    if (r?.pids && PIDS_WORDS.test(tail)) return `process limit reached (resources.pids ${r.pids}): ${plain}`;
    return plain;
  }
}

function lstatOrNull(p: string): ReturnType<typeof lstatSync> | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
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

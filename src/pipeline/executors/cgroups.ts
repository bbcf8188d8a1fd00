// Memory and process limits of a sandboxed datum (`resources: {memory, pids}`) as a
// cgroup of its own, where this process may make one: under dv's own cgroup (from
// /proc/self/cgroup) in the cgroup v2 hierarchy when it delegates the controller
// there, else in the v1 hierarchy that has it (what a root container with v1
// controllers mounted rw gives). Detected at run time, per controller; where neither
// is writable the sandbox falls back to rlimits (prlimit: RLIMIT_AS, RLIMIT_NPROC).
// A cgroup limit is the real one: RLIMIT_AS counts address space, not memory, and
// RLIMIT_NPROC does not bind root at all. After the datum, its breach is read from
// the controller's counters (oom_kill, pids max events) for `dv runs show`, what is
// left in the cgroup is killed, and the cgroup removed.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type Controller = 'memory' | 'pids';

/** Where a controller's cgroups for this process go: the parent directory, and which version. */
export interface CgroupParent { dir: string; v2: boolean }

let found: Map<Controller, CgroupParent | null> | undefined;

function lines(file: string): string[] {
  try { return readFileSync(file, 'utf8').split('\n').filter(Boolean); } catch { return []; }
}

/** The parent each controller's datum cgroups are made in, or null where none is writable. */
export function cgroupParents(): Map<Controller, CgroupParent | null> {
  if (found) return found;
  found = new Map();
  const own = new Map<string, string>(); // controller ('' for v2) -> path
  for (const l of lines('/proc/self/cgroup')) {
    const [, ctrls, path] = /^\d+:([^:]*):(.*)$/.exec(l) ?? [];
    if (ctrls === undefined || path === undefined) continue;
    for (const c of ctrls === '' ? [''] : ctrls.split(',')) own.set(c, path);
  }
  const mounts: { point: string; type: string; opts: string[] }[] = [];
  for (const l of lines('/proc/self/mountinfo')) {
    const [pre, post] = l.split(' - ');
    if (!pre || !post) continue;
    const [type, , superOpts] = post.split(' ');
    if (type === 'cgroup' || type === 'cgroup2') mounts.push({ point: pre.split(' ')[4]!, type, opts: (superOpts ?? '').split(',') });
  }
  for (const c of ['memory', 'pids'] as Controller[]) {
    let parent: CgroupParent | null = null;
    const v2 = mounts.find((m) => m.type === 'cgroup2');
    if (v2 && own.has('')) {
      const dir = join(v2.point, own.get('')!);
      if (lines(join(dir, 'cgroup.subtree_control')).join(' ').split(' ').includes(c) && writable(dir)) parent = { dir, v2: true };
    }
    const v1 = mounts.find((m) => m.type === 'cgroup' && m.opts.includes(c));
    if (!parent && v1 && own.has(c)) {
      const dir = join(v1.point, own.get(c)!);
      if (writable(dir)) parent = { dir, v2: false };
    }
    found.set(c, parent);
  }
  return found;
}

/** Whether a child cgroup can be made (and removed) in dir. */
function writable(dir: string): boolean {
  const probe = join(dir, `dv-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
    return true;
  } catch {
    return false;
  }
}

let counter = 0;

/** One datum's cgroups (one per limited controller). */
export class DatumCgroup {
  readonly dirs = new Map<Controller, { dir: string; v2: boolean }>();

  /** Makes the cgroups for the limits given; controllers without a writable parent are left out. */
  static make(limits: { memory: number | null; pids: number | null }): DatumCgroup {
    const g = new DatumCgroup();
    const name = `dv-${process.pid}-${++counter}`;
    for (const [c, value] of [['memory', limits.memory], ['pids', limits.pids]] as [Controller, number | null][]) {
      const parent = value === null ? null : cgroupParents().get(c);
      if (!parent || value === null) continue;
      const dir = join(parent.dir, name);
      try {
        mkdirSync(dir);
        if (c === 'pids') writeFileSync(join(dir, 'pids.max'), String(value));
        else if (parent.v2) {
          writeFileSync(join(dir, 'memory.max'), String(value));
          tryWrite(join(dir, 'memory.swap.max'), '0');
        } else {
          writeFileSync(join(dir, 'memory.limit_in_bytes'), String(value));
          tryWrite(join(dir, 'memory.memsw.limit_in_bytes'), String(value));
        }
        g.dirs.set(c, { dir, v2: parent.v2 });
      } catch {
        tryRmdir(dir);
      }
    }
    return g;
  }

  has(c: Controller): boolean {
    return this.dirs.has(c);
  }

  /** What broke, from the controllers' counters: 'memory', 'pids' or null. */
  breach(): Controller | null {
    const m = this.dirs.get('memory');
    if (m) {
      const text = lines(join(m.dir, m.v2 ? 'memory.events' : 'memory.oom_control')).join('\n');
      if (Number(/oom_kill (\d+)/.exec(text)?.[1] ?? 0) > 0) return 'memory';
    }
    const p = this.dirs.get('pids');
    if (p && Number(/max (\d+)/.exec(lines(join(p.dir, 'pids.events')).join('\n'))?.[1] ?? 0) > 0) return 'pids';
    return null;
  }

  /** Kills what is left in the cgroups and removes them. */
  remove(): void {
    for (const { dir, v2 } of this.dirs.values()) {
      for (let i = 0; i < 20 && existsSync(dir); i++) {
        if (v2) tryWrite(join(dir, 'cgroup.kill'), '1');
        for (const pid of lines(join(dir, 'cgroup.procs'))) {
          try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
        }
        if (tryRmdir(dir)) break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      }
    }
    this.dirs.clear();
  }
}

function tryWrite(file: string, text: string): void {
  try { writeFileSync(file, text); } catch { /* not there on this kernel */ }
}

function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

// What a sandboxed datum sees, as arguments: the bubblewrap command line of a batch
// container (namespaces, system directories, the runner's staging view), the mount
// and process ops that build one datum's view inside it (run by native/spawn.c's
// spawnIsolated), and the one-bwrap-per-datum command line of the fallback. Pure
// functions of the stage, its datum and the host's paths; sandbox.ts decides which.
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NATIVE_ADDON_PATH } from '../../store/native-addon.js';
import type { IdentityConfig } from '../config-sandbox.js';
import type { StageConfig } from '../types.js';
import type { DatumCgroup } from './cgroups.js';
import { lstatOrNull } from './local.js';
import { STAGE_DIR } from './sandbox-pool.js';

/** The runner (sandbox-runner.ts), bound into every container that needs it. */
const RUNNER = fileURLToPath(new URL('./sandbox-runner.js', import.meta.url));

export const SYSTEM_RO = ['/usr', '/etc'];
export const SYSTEM_RO_TRY = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/opt'];
export const isSystemPath = (file: string): boolean => SYSTEM_RO.concat(SYSTEM_RO_TRY).some((d) => file.startsWith(`${d}/`));

export interface View {
  root: string;
  stage: StageConfig;
  /** Project paths the datum may read (deps, its input, params files). */
  reads: string[];
  identity: IdentityConfig | null;
  /** The network namespace is the sandbox's own. */
  ownNetwork: boolean;
}

function namespaces(v: View): string[] {
  const a = ['--die-with-parent', '--new-session', '--unshare-ipc', '--unshare-pid', '--unshare-uts', '--unshare-cgroup-try'];
  if (v.ownNetwork) a.push('--unshare-net');
  for (const d of SYSTEM_RO) a.push('--ro-bind', d, d);
  for (const d of SYSTEM_RO_TRY) a.push('--ro-bind-try', d, d);
  return a;
}

/** A batch container: its runner sees the project read-only, the scratch space, itself, cgroup parents, the endpoint socket. */
/** The host's unix socket directory for a job endpoint, and the port it is served on inside. */
export interface Bridge { dir: string; port: number }

export function containerArgs(v: View, o: { tmpRoot: string; cgroupDirs: [string, string][]; bridge: Bridge | null }): string[] {
  const a = namespaces(v);
  a.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--tmpfs', STAGE_DIR);
  a.push('--ro-bind', v.root, `${STAGE_DIR}/root`, '--bind', o.tmpRoot, `${STAGE_DIR}/tmp`);
  a.push('--ro-bind', RUNNER, `${STAGE_DIR}/bin/runner.mjs`);
  a.push('--ro-bind', NATIVE_ADDON_PATH, `${STAGE_DIR}/bin/dvscan.node`);
  // The parents of the datums' cgroups, where each datum joins its own before it starts.
  for (const [c, dir] of o.cgroupDirs) a.push('--bind', dir, `${STAGE_DIR}/cg/${c}`);
  if (!isSystemPath(process.execPath)) a.push('--ro-bind', process.execPath, process.execPath);
  const forward: string[] = [];
  if (o.bridge) {
    a.push('--bind', o.bridge.dir, `${STAGE_DIR}/sock`);
    forward.push(String(o.bridge.port), `${STAGE_DIR}/sock/s`);
  }
  a.push('--', process.execPath, `${STAGE_DIR}/bin/runner.mjs`, `${STAGE_DIR}/bin/dvscan.node`, ...forward);
  return a;
}

/** The ops (triples) that make one datum's view inside its batch's container, in order. */
export function datumOps(v: View, scratch: string, cwd: string, cg: DatumCgroup | null): string[] {
  const { root, stage } = v;
  const inside = `${STAGE_DIR}/tmp/${basename(scratch)}`;
  const ops: string[] = ['tmpfs', '/tmp', '1777', 'mkdir', root, '', 'tmpfs', root, '0755'];
  for (const r of v.reads) {
    const st = lstatOrNull(join(root, r));
    if (!st) continue;
    ops.push(st.isDirectory() ? 'mkdir' : 'touch', join(root, r), '', 'robind', `${STAGE_DIR}/root/${r}`, join(root, r));
  }
  ops.push('mkdir', scratch, '', 'bind', inside, scratch);
  for (const o of stage.outs) ops.push(stage.outDirs.includes(o) ? 'mkdir' : 'touch', join(root, o), '', 'bind', `${inside}/${o}`, join(root, o));
  ops.push('mkdir', cwd, '', 'remount-ro', root, '');
  for (const [c, { dir }] of cg?.dirs ?? []) ops.push('write', `${STAGE_DIR}/cg/${c}/${basename(dir)}/cgroup.procs`, '0');
  ops.push('umount', STAGE_DIR, '');
  const r = stage.isolation?.resources;
  if (r?.memory && !cg?.has('memory')) ops.push('rlimit', 'as', String(r.memory));
  if (r?.pids && !cg?.has('pids')) ops.push('rlimit', 'nproc', String(r.pids));
  if (r?.cpus) ops.push('cpus', String(Math.min(r.cpus, cpus().length)), '');
  ops.push('chdir', cwd, '');
  ops.push(...(v.identity ? ['ids', String(v.identity.uid), String(v.identity.gid)] : ['dropcaps', '', '']));
  return ops;
}

/** The fallback: one bwrap for this datum alone, limits through prlimit/taskset/setpriv; with a
 * bridge, the runner in front forwards the job endpoint's port (as in a batch container). */
export function perDatumArgs(v: View, scratch: string, argv: string[], asRoot: boolean, bridge: Bridge | null = null): string[] {
  const { root, stage, identity: id } = v;
  const a = namespaces(v);
  a.push('--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp');
  // The project: an empty read-only directory with the declared parts mounted in.
  a.push('--tmpfs', root);
  for (const r of v.reads) a.push('--ro-bind-try', join(root, r), join(root, r));
  a.push('--bind', scratch, scratch);
  for (const o of stage.outs) a.push('--bind', join(scratch, o), join(root, o));
  const cwd = stage.wdir ? join(root, stage.wdir) : root;
  if (stage.wdir) a.push('--dir', cwd);
  a.push('--remount-ro', root, '--chdir', cwd);
  if (id && !asRoot) a.splice(0, 0, '--unshare-user', '--uid', String(id.uid), '--gid', String(id.gid));
  if (!id && asRoot) a.push('--cap-drop', 'ALL');
  if (bridge) {
    a.push('--ro-bind', RUNNER, `${STAGE_DIR}/bin/runner.mjs`, '--bind', bridge.dir, `${STAGE_DIR}/sock`);
    if (!isSystemPath(process.execPath)) a.push('--ro-bind', process.execPath, process.execPath);
  }
  a.push('--');
  if (bridge) a.push(process.execPath, `${STAGE_DIR}/bin/runner.mjs`, '--exec', String(bridge.port), `${STAGE_DIR}/sock/s`, '--');
  const r = stage.isolation?.resources;
  if (r?.memory || r?.pids) {
    a.push('prlimit');
    if (r.memory) a.push(`--as=${r.memory}`);
    if (r.pids) a.push(`--nproc=${r.pids}`);
    a.push('--');
  }
  if (r?.cpus) a.push('taskset', '-c', `0-${Math.min(r.cpus, cpus().length) - 1}`);
  // As root the command drops to the identity's own uid/gid (files it writes are theirs).
  if (id && asRoot) a.push('setpriv', `--reuid=${id.uid}`, `--regid=${id.gid}`, '--clear-groups', '--');
  a.push(...argv);
  return a;
}

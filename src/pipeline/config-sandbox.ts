// The isolation keys of a dv.yaml stage (`isolation`, `network`, `identity`,
// `resources`, `s3`) and the top-level `identities` map, validated like the rest of
// dv.yaml: one line naming the place. Kept apart from config.ts so that file only
// gains a call per stage; the sandbox executor (executors/sandbox.ts) reads them.
import { readFileSync } from 'node:fs';
import { bool, checkKeys, isMap, typeName, type Checker, type Raw } from './config-check.js';

export const ISOLATION_KEYS = ['isolation', 'network', 'identity', 'resources', 's3'];

export interface Resources {
  /** Number of CPUs the job may use (sched affinity). */
  cpus: number | null;
  /** Bytes of memory (a cgroup's memory.max where writable, else RLIMIT_AS: address space). */
  memory: number | null;
  /** Processes (a cgroup's pids.max where writable, else RLIMIT_NPROC of the job's user). */
  pids: number | null;
}

export interface StageIsolation {
  mode: 'local' | 'sandbox';
  network: boolean;
  identity: string | null;
  resources: Resources;
  /** Give the job a temporary key to dv serve (AWS_* and DV_ENDPOINT); implied by an identity. */
  s3: boolean;
  /** The stage's `batch:` (checked by config-cluster.ts): datums per sandbox container; null = the default. */
  batch: number | null;
}

export interface IdentityConfig {
  name: string;
  uid: number;
  gid: number;
  /** Branch patterns the identity's job keys may write at most; null = the run's output branch. */
  write: string[] | null;
}

const IDENT = /^[A-Za-z0-9._@+-]{1,128}$/;
const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `512M`, `2G`, `1048576`: bytes. */
export function parseBytes(v: unknown): number | null {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  if (typeof v !== 'string') return null;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(v.trim());
  if (!m) return null;
  const n = Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  return n > 0 ? n : null;
}

const posInt = (c: Checker, place: string, v: unknown): number | null => {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) c.fail(place, 'expected a positive integer');
  return v;
};

/** The isolation keys of one stage; `timeout` under resources is returned for the stage's timeout. */
export function parseIsolation(c: Checker, place: string, raw: Raw, defaultIdentity: string | null): { isolation: StageIsolation; timeout: unknown } {
  const mode = raw.isolation ?? 'local';
  if (mode !== 'local' && mode !== 'sandbox') c.fail(`${place}.isolation`, "expected 'local' or 'sandbox'");
  const identity = raw.identity ?? defaultIdentity;
  if (identity !== null && (typeof identity !== 'string' || !IDENT.test(identity))) c.fail(`${place}.identity`, 'expected an identity name (letters, digits, . _ @ + -)');
  const r = raw.resources ?? {};
  if (!isMap(r)) c.fail(`${place}.resources`, `expected a map with cpus, memory, timeout, pids, got ${typeName(r)}`);
  checkKeys(c, `${place}.resources`, r, ['cpus', 'memory', 'timeout', 'pids']);
  let memory: number | null = null;
  if (r.memory !== undefined && r.memory !== null) {
    memory = parseBytes(r.memory);
    if (memory === null) c.fail(`${place}.resources.memory`, "expected a size such as 512M or 2G");
  }
  const resources = { cpus: posInt(c, `${place}.resources.cpus`, r.cpus), memory, pids: posInt(c, `${place}.resources.pids`, r.pids) };
  if (mode !== 'sandbox' && (resources.cpus ?? resources.memory ?? resources.pids) !== null) {
    c.fail(`${place}.resources`, 'cpus, memory and pids limits need isolation: sandbox');
  }
  const isolation: StageIsolation = {
    mode, network: bool(c, `${place}.network`, raw.network), identity: identity as string | null, resources,
    s3: bool(c, `${place}.s3`, raw.s3) || identity !== null,
    batch: typeof raw.batch === 'number' ? raw.batch : null,
  };
  return { isolation, timeout: r.timeout };
}

function passwdIds(user: string): { uid: number; gid: number } | null {
  let text = '';
  try { text = readFileSync('/etc/passwd', 'utf8'); } catch { return null; }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === user && f.length > 3) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

/** Top-level `identities: {NAME: {user: NAME} | {uid, gid}, write?: [patterns]}`. */
export function parseIdentities(c: Checker, v: unknown): Map<string, IdentityConfig> {
  const out = new Map<string, IdentityConfig>();
  if (v === undefined || v === null) return out;
  if (!isMap(v)) c.fail('identities', `expected a map of name: {user} or {uid, gid}, got ${typeName(v)}`);
  for (const [name, def] of Object.entries(v)) {
    const place = `identities.${name}`;
    if (!IDENT.test(name)) c.fail(place, 'an identity name is letters, digits, . _ @ + -');
    if (!isMap(def)) c.fail(place, `expected a map with user or uid/gid, got ${typeName(def)}`);
    checkKeys(c, place, def, ['user', 'uid', 'gid', 'write']);
    let ids: { uid: number; gid: number } | null = null;
    if (def.user !== undefined) {
      if (typeof def.user !== 'string') c.fail(`${place}.user`, 'expected a user name');
      ids = passwdIds(def.user);
      if (!ids) c.fail(`${place}.user`, `no local user '${def.user}' in /etc/passwd`);
    } else {
      const uid = def.uid;
      if (typeof uid !== 'number' || !Number.isInteger(uid) || uid < 0) c.fail(`${place}.uid`, 'expected a user id (or give user: NAME)');
      const gid = def.gid ?? uid;
      if (typeof gid !== 'number' || !Number.isInteger(gid) || gid < 0) c.fail(`${place}.gid`, 'expected a group id');
      ids = { uid, gid };
    }
    let write: string[] | null = null;
    if (def.write !== undefined) {
      if (!Array.isArray(def.write) || def.write.some((w) => typeof w !== 'string')) c.fail(`${place}.write`, 'expected a list of branch patterns');
      write = def.write as string[];
    }
    out.set(name, { name, ...ids, write });
  }
  return out;
}

/** Every stage identity must be declared. */
export function checkIdentities(c: Checker, stages: Iterable<{ name: string; isolation?: StageIsolation }>, ids: Map<string, IdentityConfig>): void {
  for (const s of stages) {
    const id = s.isolation?.identity;
    if (id && !ids.has(id)) c.fail(`stages.${s.name}.identity`, `unknown identity '${id}' (declare it under identities: or with dv identity add)`);
  }
}

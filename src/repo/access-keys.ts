// Access keys for `dv serve` (long-lived ones from `dv keys create`, temporary job
// keys from job-keys.ts), kept in `.dv/keys.json` (mode 0600).
//
// SigV4 is an HMAC keyed by the secret, so the server needs the plain secret: it
// cannot be stored as a one-way hash. What we can do is keep it in a file only the
// owner can read, write that file atomically, and never print a secret again after
// `create` returned it.
//
// Patterns are globs over ref names as written in keys: `*` matches any run of
// characters (slashes included, so `*` really means every ref), `?` one character,
// anything else itself. `feature/*` matches `feature/a` and `feature/a/b`. Versions
// addressed by commit id, id prefix or HEAD~N can hold anything ever committed, so
// only a key with the read pattern `*` may read them (otherwise `abc*` would grant
// every commit whose id starts with abc).
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { DvError } from '../store/errors.js';
import { writeFileAtomic } from '../store/fsutil.js';
import { RepoLock } from '../store/lock.js';

export interface KeyInfo {
  id: string;
  read: string[];
  write: string[];
  created: string;
  description?: string;
  /** Temporary (job) keys only: when the key stops working (ISO). */
  expires?: string;
  /** Temporary keys: the identity the job runs as, and the run it was minted for. */
  identity?: string | null;
  runId?: string;
  /** Temporary keys: the only places they may write, as `<branch>/<path prefix>/`
   * (a job key writes its own batch's upload area, nothing else on the branch). */
  writePaths?: string[];
}

export interface KeyRecord extends KeyInfo {
  secret: string;
  /** Temporary keys: SHA-256 (hex) of the session token the request must carry. */
  tokenSha256?: string;
}

interface KeysFile {
  format: 1;
  keys: KeyRecord[];
}

/** What the server needs from a key store; tests can pass a plain object. */
export interface KeyLookup {
  lookup(id: string): KeyRecord | null;
  /** Called with a request's access key id before it is verified: a store kept elsewhere
   * (the remote's job keys, dv serve --remote) loads the record here. */
  prefetch?(id: string): Promise<void>;
}

const PATTERN_RE = /^[A-Za-z0-9._\-/*?@{}^~+]+$/;

export function validatePattern(p: string): string {
  if (!PATTERN_RE.test(p) || p.length > 256) throw new DvError(`invalid ref pattern '${p}': use ref names with * and ? wildcards`);
  return p;
}

const compiled = new Map<string, RegExp>();

export function globToRegExp(pattern: string): RegExp {
  const hit = compiled.get(pattern);
  if (hit) return hit;
  let re = '^';
  for (const c of pattern) {
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else re += c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  }
  const rx = new RegExp(`${re}$`, 's');
  if (compiled.size < 1024) compiled.set(pattern, rx);
  return rx;
}

export function matchesAny(patterns: readonly string[], ref: string): boolean {
  return patterns.some((p) => globToRegExp(p).test(ref));
}

export function canRead(key: KeyInfo, ref: string, kind: 'branch' | 'tag' | 'commit' = 'branch'): boolean {
  // A full commit id in the read list grants that one version (job keys read their inputs so).
  if (kind === 'commit') return key.read.includes('*') || (/^[0-9a-f]{64}$/.test(ref) && key.read.includes(ref));
  return matchesAny(key.read, ref);
}

/** Writes only ever go to branches; the caller checks the ref kind, this checks the name. */
export function canWrite(key: KeyInfo, branch: string): boolean {
  return matchesAny(key.write, branch);
}

/** A key limited to path prefixes (writePaths) writes only below them; others anywhere on a branch they may write. */
export function canWritePath(key: KeyInfo, branch: string, path: string): boolean {
  return canWrite(key, branch) && (key.writePaths === undefined || key.writePaths.some((p) => `${branch}/${path}`.startsWith(p)));
}

export function newId(): string {
  // AWS-shaped (20 uppercase alphanumerics) so tools that validate key ids accept it.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let s = 'DV';
  for (const b of randomBytes(18)) s += alphabet[b & 31];
  return s;
}

export const newSecret = (): string => randomBytes(30).toString('base64url'); // 40 chars, 240 bits

export class KeyStore implements KeyLookup {
  private cache: KeysFile | null = null;
  private cacheStamp = '';

  constructor(readonly path: string) {}

  /** Create a key. The secret is returned here and never again. */
  create(opts: { read?: string[]; write?: string[]; description?: string }): KeyRecord {
    const read = (opts.read ?? []).map(validatePattern);
    const write = (opts.write ?? []).map(validatePattern);
    if (read.length === 0 && write.length === 0) throw new DvError('a key needs at least one --read or --write pattern');
    const rec: KeyRecord = { id: newId(), secret: newSecret(), read, write, created: new Date().toISOString() };
    if (opts.description) rec.description = opts.description;
    this.update((f) => { f.keys.push(rec); });
    return { ...rec };
  }

  /** Store a record made elsewhere (job-keys.ts); expired temporary keys are dropped on the way. */
  add(rec: KeyRecord, now = Date.now()): void {
    rec.read.forEach(validatePattern);
    rec.write.forEach(validatePattern);
    this.update((f) => {
      f.keys = f.keys.filter((k) => k.expires === undefined || Date.parse(k.expires) > now);
      f.keys.push(rec);
    });
  }

  /** Revoke if present; false when there was no such key (already revoked or expired away). */
  remove(id: string): boolean {
    let found = false;
    this.update((f) => {
      const n = f.keys.length;
      f.keys = f.keys.filter((k) => k.id !== id);
      found = f.keys.length !== n;
    });
    return found;
  }

  list(): KeyInfo[] {
    return this.load().keys.map(({ secret: _secret, tokenSha256: _token, ...info }) => info);
  }

  /** Revoke a key; takes effect on the next request of a running server. */
  revoke(id: string): void {
    if (!this.remove(id)) throw new DvError(`no access key '${id}'`);
  }

  /** For the verifier: re-reads the file when it changed, so revocations apply at once. */
  lookup(id: string): KeyRecord | null {
    return this.load().keys.find((k) => k.id === id) ?? null;
  }

  private stamp(st: Stats | null): string {
    return st ? `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : 'none';
  }

  private load(): KeysFile {
    let st: Stats | null = null;
    try {
      st = statSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const stamp = this.stamp(st);
    if (this.cache && stamp === this.cacheStamp) return this.cache;
    const file = st ? this.parse(readFileSync(this.path, 'utf8')) : { format: 1 as const, keys: [] };
    this.cache = file;
    this.cacheStamp = stamp;
    return file;
  }

  private parse(text: string): KeysFile {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new DvError(`${this.path} is not valid JSON`);
    }
    const f = data as Partial<KeysFile>;
    if (!f || f.format !== 1 || !Array.isArray(f.keys)) throw new DvError(`${this.path}: unsupported keys file format`);
    return { format: 1, keys: f.keys };
  }

  /** Read-modify-write under a lock file, so two `dv keys` processes never lose a key. */
  private update(fn: (f: KeysFile) => void): void {
    const lock = new RepoLock(`${this.path}.lock`);
    lock.acquire('keys', 10_000);
    try {
      this.cache = null;
      const f = this.load();
      const copy: KeysFile = { format: 1, keys: f.keys.map((k) => ({ ...k })) };
      fn(copy);
      writeFileAtomic(this.path, `${JSON.stringify(copy, null, 2)}\n`, 0o600);
      this.cache = null;
    } finally {
      lock.release();
    }
  }

}

// The ProxyBackend over a real repository: what `dv serve` runs.
//
// Concurrency inside one server process: uploads stream into the store in
// parallel, each through its own BlobStore (one pack writer per upload), because
// the repository's shared writer is not safe for interleaved puts and a failed
// commit discards it. Commits are serialised here (the repository lock is
// re-entrant within a process, so it alone would not order two requests of the
// same server) and take the lock without blocking the event loop.
//
// Uploaded data is referenced by nothing until its commit; a writer lease
// (src/repo/leases.ts) keeps `dv gc` away from the packs written since the oldest
// such upload began, and each commit checks, under the lock, that every chunk it
// references is still in the store (a chunk deduplicated against garbage that gc
// deleted in the meantime fails the request instead of making a broken commit).
import { mayMove, protectionOf, type Actor } from '../repo/protect.js';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BlobStore } from '../store/blobstore.js';
import { mapForReads } from '../store/db.js';
import { DvError } from '../store/errors.js';
import { createHasher } from '../store/hash.js';
import { WriterLease } from '../repo/leases.js';
import { openFile } from '../repo/fileio.js';
import { DV_DIR, type Repo } from '../repo/repo.js';
import { isMarkerPath, markerEntry } from '../repo/trees.js';
import type { FileEntry, IngestedFile, StoredFile, WalkItem } from '../repo/types.js';
import { s3err } from './errors.js';
import { walkKeys } from './key-walk.js';
import { keyToPath } from './keypath.js';
import { Md5Cache } from './md5-cache.js';
import {
  CommitConflict, sameFile, type CommitOptions, type CommitResult, type FileChange, type ProxyBackend, type RefInfo,
  type RepoInfo, type ResolvedRef,
} from './types.js';

export interface RepoBackendOptions {
  /** Bucket name; default: the project directory's name (see bucketName). */
  name?: string;
  /** Refuse writes with this explanation (dv serve --remote). */
  readOnly?: string;
  /** How long a commit waits for another dv process's lock before answering 503. */
  lockWaitMs?: number;
}

/** Uploads stored but not committed are protected from gc for at most this long
 * (in-flight multipart uploads are dropped after 24 h idle). */
const PENDING_TTL_MS = 25 * 3600_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A valid S3 bucket name from a directory name: lowercase, [a-z0-9.-], 3-63 chars. */
export function bucketName(dir: string): string {
  const n = path.basename(dir).toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[.-]+|[.-]+$/g, '').slice(0, 63);
  return n.length >= 3 ? n : `${n || 'dv'}-repo`.replace(/^-/, '');
}

export function checkBucketName(name: string): string {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || name.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(name)) {
    throw new DvError(`invalid bucket name '${name}': use 3-63 lowercase letters, digits, '.' and '-'`, 2);
  }
  return name;
}

/**
 * Runs `fn` under the repository lock, retrying asynchronously while another process
 * holds it (RepoLock waits by blocking the thread, which would stall every request).
 */
export async function withLockAsync<T>(repo: Repo, command: string, fn: () => Promise<T> | T, waitMs = 30_000): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await repo.withLock(command, fn, { waitMs: 0 });
    } catch (e) {
      if (!(e instanceof DvError && e.code === 'LOCKED') || Date.now() >= deadline) throw e;
      await sleep(25 + Math.random() * 50);
    }
  }
}

interface Pending {
  since: number;
  /** Parts a multipart result was made of: released with it. */
  parts?: StoredFile[];
}

export class RepoBackend implements ProxyBackend {
  readonly name: string;
  private readonly created: Date;
  private readonly times = new Map<string, Date>();
  private readonly pending = new Map<object, Pending>();
  private chain: Promise<unknown> = Promise.resolve();
  private lease: WriterLease | null = null;
  private readonly md5Cache = new Md5Cache();

  constructor(readonly repo: Repo, private readonly opts: RepoBackendOptions = {}) {
    this.name = checkBucketName(opts.name ?? bucketName(repo.root));
    const st = fs.statSync(path.join(repo.root, DV_DIR));
    this.created = st.birthtimeMs > 0 ? st.birthtime : st.mtime;
    mapForReads(repo.db); // a server reads for long: a listing's MD5 lookups cost no read call each
    if (!opts.readOnly) this.lease = WriterLease.acquire(repo.dvDir, 'serve', () => this.oldestPending());
  }

  /** Settles when no commit is running or queued (shutdown waits for this). */
  async idle(): Promise<void> {
    let seen: Promise<unknown>;
    do {
      seen = this.chain;
      await seen;
    } while (seen !== this.chain);
  }

  close(): void {
    this.lease?.release();
    this.lease = null;
  }

  listRepos(): RepoInfo[] {
    return [{ name: this.name, created: this.created }];
  }

  private async timeOf(commit: string): Promise<Date> {
    let t = this.times.get(commit);
    if (!t) {
      t = new Date((await this.repo.readCommit(commit)).time);
      this.times.set(commit, t);
    }
    return t;
  }

  async listRefs(_repo: string): Promise<RefInfo[]> {
    const out: RefInfo[] = [];
    for (const r of this.repo.refs.list()) {
      const kind = r.name.startsWith('heads/') ? 'branch' : r.name.startsWith('tags/') ? 'tag' : null;
      if (kind) out.push({ name: r.name.slice(kind === 'branch' ? 6 : 5), kind, commit: r.target, time: await this.timeOf(r.target) });
    }
    return out;
  }

  /** Anything `Repo.resolve` understands (one implementation of refs); null when unknown. */
  async resolve(_repo: string, ref: string): Promise<ResolvedRef | null> {
    let commit: string;
    try {
      commit = await this.repo.resolve(ref);
    } catch (e) {
      if (e instanceof DvError && (e.code === 'UNKNOWN_REF' || e.exitCode === 2)) return null;
      throw e; // an ambiguous prefix
    }
    const kind = this.repo.refs.get(`heads/${ref}`) ? 'branch' : this.repo.refs.get(`tags/${ref}`) ? 'tag' : 'commit';
    return { commit, kind, time: await this.timeOf(commit) };
  }

  async *walk(_repo: string, commit: string, prefix: string, startAfter?: string): AsyncIterable<WalkItem> {
    yield* walkKeys(this.repo.objects, (await this.repo.readCommit(commit)).tree, prefix, startAfter ?? '');
  }

  async stat(_repo: string, commit: string, p: string): Promise<FileEntry | null> {
    return this.entryAt(commit, p);
  }

  /** The file at key path `key`, or for a marker key `a/b/` an empty directory `a/b` read as zero bytes. */
  private async entryAt(commit: string, key: string): Promise<FileEntry | null> {
    const p = keyToPath(key);
    const marker = isMarkerPath(p);
    const file = marker ? p.slice(0, -1) : p;
    if (file.split('/').some((s) => s === '')) return null; // lookup would skip empty segments
    const e = await this.repo.lookup(commit, file);
    if (!marker) return e?.type === 'file' ? e : null;
    if (e?.type !== 'dir') return null;
    if (!(await this.repo.objects.readTree(e.tree)).entries.length) return markerEntry();
    // A file stored as `%` (the escaped empty name, e.g. added by dv add) has the key `dir/`.
    const f = await this.repo.objects.findEntry(e.tree, '%');
    return f?.type === 'file' ? f : null;
  }

  open(_repo: string, entry: StoredFile, start: number, endExclusive: number): Readable {
    return openFile(this.repo.blobs, entry, start, endExclusive);
  }

  private writable(): void {
    if (this.opts.readOnly) throw s3err('AccessDenied', this.opts.readOnly);
  }

  async storeStream(_repo: string, body: Readable): Promise<IngestedFile> {
    this.writable();
    const token = {};
    const since = Date.now();
    this.pending.set(token, { since });
    // Its own store: one pack writer per upload, sealed and indexed when it ends.
    const store = new BlobStore(this.repo.db, this.repo.dvDir);
    try {
      const stored = await this.repo.ingestor({ store }).storeStream(body);
      store.flush();
      this.pending.set(stored, { since });
      return stored;
    } finally {
      this.pending.delete(token);
      store.close(); // discards an unsealed pack when the body failed
    }
  }

  async md5(repo: string, entry: StoredFile): Promise<string> {
    return (await this.md5s(repo, [entry]))[0]!;
  }

  md5s(_repo: string, entries: StoredFile[]): Promise<string[]> {
    return this.md5Cache.md5s(entries, (missing) => this.repo.md5s.md5sOf(this.repo.blobs, missing));
  }

  async concat(_repo: string, parts: StoredFile[]): Promise<StoredFile> {
    this.writable();
    const chunks = parts.flatMap((p) => p.chunks);
    const file: StoredFile = { size: parts.reduce((s, p) => s + p.size, 0), hash: '', chunks };
    // The file checksum is the BLAKE3 of the whole content: read it back and hash it
    // (the MD5 too, in the same pass: should the file ever be re-added in one part).
    const hasher = await createHasher();
    const md5 = createHash('md5');
    let n = 0;
    for await (const b of this.repo.openFile(file)) {
      hasher.update(b as Buffer);
      md5.update(b as Buffer);
      n += (b as Buffer).length;
    }
    if (n !== file.size) throw new Error(`multipart parts hold ${n} bytes, expected ${file.size}`);
    file.hash = chunks.length === 1 ? chunks[0]![0] : hasher.digestHex();
    this.repo.md5s.record(file.hash, md5.digest('hex'));
    const since = Math.min(Date.now(), ...parts.map((p) => this.pending.get(p)?.since ?? Date.now()));
    this.pending.set(file, { since, parts });
    return file;
  }

  writeRefusal(_repo: string, branch: string, actor: Actor): string | null {
    const p = protectionOf(this.repo, branch);
    return p && !mayMove(p, actor) ? `branch '${branch}' is protected; key ${actor.key} may not change it` : null;
  }

  async commit(_repo: string, branch: string, changes: Map<string, FileChange | null>, message: string,
    opts: CommitOptions = {}): Promise<CommitResult> {
    this.writable();
    const run = this.chain.then(() => this.commitNow(branch, changes, message, opts));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async commitNow(branch: string, changes: Map<string, FileChange | null>, message: string,
    opts: CommitOptions): Promise<CommitResult> {
    let out: { id: string; created: boolean; amended?: boolean };
    try {
      out = await withLockAsync(this.repo, 'serve', async () => {
        // Inside the lock: the head read here is the one the commit builds on.
        const head = this.repo.refs.get(`heads/${branch}`);
        if (!head) throw new DvError(`no branch '${branch}'`, 1, 'UNKNOWN_REF');
        const current = (p: string): Promise<FileEntry | null> => this.entryAt(head, p);
        for (const [p, pred] of opts.expect ?? []) if (!pred(await current(p))) throw new CommitConflict(p);
        // Keyed by tree path (keypath.ts): what the commit writes.
        const effective = new Map<string, FileChange | null>();
        for (const [key, c] of changes) {
          let p = keyToPath(key);
          let held = false;
          if (isMarkerPath(p)) {
            // An object `dir/` with content is the file named "" (stored `%`) in dir; a
            // zero-byte one is the empty directory, replacing such a file if there is one.
            const asFile = `${p.slice(0, -1)}/%`;
            held = (await this.repo.lookup(head, asFile))?.type === 'file';
            if (c && c.size > 0) p = asFile;
            else if (held) {
              effective.set(asFile, null);
              if (!c) continue;
            }
          }
          // A marker changes the tree only when it creates or removes an empty directory.
          if (isMarkerPath(p) && (c ? !held && (await this.repo.lookup(head, p.slice(0, -1)))?.type === 'dir' : !(await current(key)))) continue;
          if (opts.skipUnchanged && sameFile(await current(key), c)) continue;
          effective.set(p, c);
        }
        if (effective.size === 0) return { id: head, created: false };
        for (const c of effective.values()) {
          for (const [id] of c?.chunks ?? []) {
            if (!this.repo.blobs.has(Buffer.from(id, 'hex'))) {
              throw s3err('OperationAborted', `Part of this upload was removed from the store (by dv gc) before it could be committed; upload it again.`);
            }
          }
        }
        // Amend only a head no remote-tracking ref names (it may have been pushed).
        const amend = opts.amend === head && !this.repo.refs.list('remotes/').some((r) => r.target === head) ? head : undefined;
        return { id: await this.repo.commitChanges(branch, effective, amend ? opts.amendMessage ?? message : message, { createBranch: false, amend, actor: opts.actor ?? { identity: null, key: null } }), created: true, amended: amend !== undefined };
      }, this.opts.lockWaitMs);
    } catch (e) {
      if (e instanceof DvError && e.code === 'LOCKED') throw s3err('SlowDown', `Please reduce your request rate: ${e.message}`);
      throw e;
    }
    for (const c of changes.values()) if (c) this.release(c);
    return { commit: out.id, time: await this.timeOf(out.id), created: out.created, amended: out.amended };
  }

  private release(f: object): void {
    const p = this.pending.get(f);
    this.pending.delete(f);
    for (const part of p?.parts ?? []) this.pending.delete(part);
  }

  /** For the writer lease: when the oldest upload that may still be committed began. */
  private oldestPending(): number | null {
    const now = Date.now();
    let min: number | null = null;
    for (const [k, p] of this.pending) {
      if (now - p.since > PENDING_TTL_MS) { this.pending.delete(k); continue; }
      if (min === null || p.since < min) min = p.since;
    }
    return min;
  }
}

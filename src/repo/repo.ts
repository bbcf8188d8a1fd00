// The repository object every command goes through (as DVC's Repo): owns the SQLite
// index, the blob store, refs and config. Commands live in their own modules.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BlobStore, type PackReader } from '../store/blobstore.js';
import { closeDb, migrate, openDb, STORE_MIGRATIONS, type DB } from '../store/db.js';
import { DvError } from '../store/errors.js';
import { RepoLock } from '../store/lock.js';
import { defaultConfig, readConfig, writeConfig, type RepoConfig } from './config.js';
import { GitLockCache } from './git-cache.js';
import { findGitRoot, gitIdentity, gitInfo, ignoreInGit, resolveGitRevision } from './git.js';
import { Md5Index } from './etags.js';
import { Ingestor, type IngestorOptions } from './ingest.js';
import { ObjectStore } from './objects.js';
import { openFile } from './fileio.js';
import { Refs, checkRefName, type Head } from './refs.js';
import { assertMayMove, localActor, type Actor } from './protect.js';
import { REPO_MIGRATIONS } from './schema.js';
import { flatten, isMarkerPath, lookup, updateTree, walk, type FlatTree } from './trees.js';
import { isUnder, normalizeTracked } from './paths.js';
import type { ChunkerParams } from '../store/chunker.js';
import { BlobType } from '../store/packfile.js';
import type { Commit, FileEntry, GitInfo, IngestedFile, StoredFile, Tree, TreeEntry, WalkItem } from './types.js';

export const DV_DIR = '.dv';

export interface CommitChangesOptions {
  run?: string | null;
  /** Called under the lock with the branch's current files (before the changes). */
  check?: (current: FlatTree) => void | Promise<void>;
  /** false: refuse (DvError) when the branch does not exist yet. Default true. */
  createBranch?: boolean;
  /** How long to wait for another process's lock (default: DV_LOCK_WAIT_MS, else 5 s). */
  lockWaitMs?: number;
  /** Paths to track as they are (pipeline outs): a new path under one is tracked as
   * it; other new paths by their first segment, as an S3 key's top-level prefix. */
  track?: string[];
  /** The code version, when the caller already read it (default: read now). */
  git?: GitInfo | null;
  /** When the branch head is this commit: replace it by a commit with its parents whose
   * tree is its tree plus the changes (dv serve's group commit), instead of adding one. */
  amend?: string;
  /** Who is committing: checked against the branch's protection (default: the local
   * identity) and, the first one, recorded in the commit (audit). */
  actor?: Actor | Actor[];
  /** Stores what belongs with the commit (a run's record and state) once its id is known:
   * those blobs are sealed in the commit's pack, before the branch moves. */
  withCommit?: (id: string) => Promise<void>;
}

/** What a new commit is made of; author, time and code version are filled in. */
export interface NewCommit {
  tree: string;
  parents: string[];
  paths: string[];
  message: string;
  run?: string | null;
  git?: GitInfo | null;
  /** Recorded as the commit's identity and key (audit of runs and proxy writes). */
  actor?: Actor;
}

/** Paths a commit may hold: project-relative, `/`-separated, no empty, `.` or `..`
 * segments, and nothing under `.dv` or `.git` (a checkout would write files there). */
export function checkCommitPath(p: string): void {
  const parts = p.split('/');
  const bad = p === '' || p.includes('\0') || parts.some((s) => s === '' || s === '.' || s === '..')
    || parts.some((s) => s === DV_DIR || s === '.git');
  if (bad) throw new DvError(`invalid path '${p}' for a commit (no empty, '.', '..', '.dv' or '.git' segments)`);
}

export interface OpenOptions {
  /** Read packs from somewhere other than .dv/packs (dv serve --remote). */
  packReader?: PackReader;
}

export class Repo {
  readonly dvDir: string;
  readonly db: DB;
  readonly blobs: BlobStore;
  readonly objects: ObjectStore;
  readonly refs: Refs;
  readonly gitLocks: GitLockCache;
  /** MD5 of stored files (S3 ETags), recorded at ingest. */
  readonly md5s: Md5Index;
  config: RepoConfig;
  private lock: RepoLock;
  private lockDepth = 0;

  private constructor(readonly root: string, opts: OpenOptions = {}) {
    this.dvDir = path.join(root, DV_DIR);
    this.config = readConfig(path.join(this.dvDir, 'config.json'));
    this.db = openDb(path.join(this.dvDir, 'dv.db'));
    migrate(this.db, 'store', STORE_MIGRATIONS);
    migrate(this.db, 'repo', REPO_MIGRATIONS);
    this.blobs = new BlobStore(this.db, this.dvDir, opts.packReader);
    this.objects = new ObjectStore(this.blobs);
    this.refs = new Refs(this.db, path.join(this.dvDir, 'refs.log'));
    this.gitLocks = new GitLockCache(this.db);
    this.md5s = new Md5Index(this.db);
    this.lock = new RepoLock(path.join(this.dvDir, 'lock'));
  }

  static init(dir: string, opts: { chunker?: ChunkerParams } = {}): Repo {
    const root = path.resolve(dir);
    const dvDir = path.join(root, DV_DIR);
    if (fs.existsSync(dvDir)) throw new DvError(`${dvDir} already exists: this is already a dv repository`);
    const config = defaultConfig(opts.chunker);
    fs.mkdirSync(path.join(dvDir, 'packs'), { recursive: true });
    fs.mkdirSync(path.join(dvDir, 'tmp'), { recursive: true });
    writeConfig(path.join(dvDir, 'config.json'), config);
    const repo = new Repo(root);
    repo.refs.setHeadBranch('main');
    // .dv/ holds the object store and keys.json's secrets: never for `git add -A`.
    if (findGitRoot(root)) ignoreInGit(root, ['/.dv/']);
    return repo;
  }

  /** Finds the repository containing `startDir` (searching upward, like git). */
  static open(startDir = process.cwd(), opts: OpenOptions = {}): Repo {
    let dir = path.resolve(startDir);
    for (;;) {
      if (fs.existsSync(path.join(dir, DV_DIR, 'config.json'))) return new Repo(dir, opts);
      const parent = path.dirname(dir);
      if (parent === dir) throw new DvError(`not a dv repository (or any parent up to /): ${path.resolve(startDir)}; run 'dv init'`);
      dir = parent;
    }
  }

  close(): void {
    this.md5s.flush();
    this.blobs.close();
    closeDb(this.db);
  }

  saveConfig(): void {
    writeConfig(path.join(this.dvDir, 'config.json'), this.config);
  }

  /** Runs `fn` holding the writer lock; a failure discards any unsealed pack. `waitMs`
   * bounds the (blocking) wait for another process's lock; a server passes 0 and
   * retries asynchronously so that its event loop keeps running. */
  async withLock<T>(command: string, fn: () => Promise<T> | T, opts: { waitMs?: number } = {}): Promise<T> {
    if (this.lockDepth === 0) this.lock.acquire(command, opts.waitMs);
    this.lockDepth++;
    try {
      return await fn();
    } catch (e) {
      this.blobs.abort();
      throw e;
    } finally {
      if (--this.lockDepth === 0) this.lock.release();
    }
  }

  /** Whether a writer (this process or another) holds the repository lock now. */
  isLocked(): boolean {
    return this.lockDepth > 0 || this.lock.isHeld();
  }

  head(): Head {
    return this.refs.head();
  }

  headCommit(): string | null {
    return this.refs.head().commit;
  }

  /**
   * Commit id for: HEAD, a branch, tag or remote-tracking ref, a full id or unique id
   * prefix (>= 4 hex digits), `REF@{N}` (the Nth previous position in the reflog), with
   * `~N` / `^` suffixes; else a git revision of the enclosing repository, through the
   * dv.lock committed with it (`git:REV` asks for git resolution only).
   */
  async resolve(ref: string): Promise<string> {
    const m = /^(.*?)((?:~\d*|\^)*)$/.exec(ref.trim())!;
    let id = m[1].startsWith('git:') ? await this.resolveGit(m[1].slice(4), ref) : await this.resolveDvOrGit(m[1], ref);
    for (const step of m[2].match(/~\d*|\^/g) ?? []) {
      const n = step === '^' || step === '~' ? 1 : Number(step.slice(1));
      for (let i = 0; i < n; i++) {
        const parent = (await this.readCommit(id)).parents[0];
        if (!parent) throw new DvError(`ref '${ref}' goes past the first commit`, 1, 'UNKNOWN_REF');
        id = parent;
      }
    }
    return id;
  }

  /** A dv ref, else (inside a git project) a git revision. */
  private async resolveDvOrGit(base: string, ref: string): Promise<string> {
    try {
      return this.resolveBase(base, ref);
    } catch (e) {
      if (!(e instanceof DvError) || e.code !== 'UNKNOWN_REF' || base.includes('@{')) throw e;
      return this.resolveGit(base, ref, e);
    }
  }

  private async resolveGit(rev: string, ref: string, unknown?: DvError): Promise<string> {
    const c = await resolveGitRevision(this, rev);
    if (!c) throw unknown ?? new DvError(`unknown git revision '${rev}'`, 1, 'UNKNOWN_REF');
    if (!this.objects.isCommit(c)) {
      throw new DvError(`${ref} names data version ${c.slice(0, 12)}, which this repository does not have; dv fetch (or pull) from the remote it was pushed to`, 1, 'UNKNOWN_REF');
    }
    return c;
  }

  private resolveBase(base: string, ref: string): string {
    if (base === '') throw new DvError(`invalid ref '${ref}'`, 2);
    const at = /^(.*)@\{(\d+)\}$/.exec(base);
    if (at) return this.resolveReflog(at[1], Number(at[2]), ref);
    if (base === 'HEAD' || base === '@') {
      const c = this.headCommit();
      if (!c) throw new DvError('HEAD has no commits yet; run dv add first', 1, 'UNKNOWN_REF');
      return c;
    }
    for (const name of [base, `heads/${base}`, `tags/${base}`, `remotes/${base}`]) {
      if (!/^(heads|tags|remotes)\//.test(name)) continue;
      const target = this.refs.get(name);
      if (target) return target;
    }
    if (/^[0-9a-f]{4,64}$/.test(base)) {
      const matches = this.blobs.idsWithPrefix(base, BlobType.Commit);
      if (matches.length === 1) return matches[0];
      if (matches.length > 1) throw new DvError(`ref '${base}' is ambiguous (${matches.length} commits start with it)`);
    }
    throw new DvError(`unknown ref '${ref}'`, 1, 'UNKNOWN_REF');
  }

  /** `HEAD@{2}`, `main@{1}`: where the ref was N moves ago. */
  private resolveReflog(name: string, n: number, ref: string): string {
    const log = name === '' || name === 'HEAD' ? 'HEAD' : `heads/${name.replace(/^heads\//, '')}`;
    const entries = this.refs.reflog(log, n + 1);
    const id = n === 0 ? (entries[0]?.new ?? undefined) : entries[n - 1]?.old ?? undefined;
    if (!id) throw new DvError(`'${ref}': the reflog of ${log} has only ${entries.length} entries`, 1, 'UNKNOWN_REF');
    return id;
  }

  readCommit(id: string): Promise<Commit> {
    return this.objects.readCommit(id);
  }

  readTree(id: string): Promise<Tree> {
    return this.objects.readTree(id);
  }

  async lookup(commitId: string, p: string): Promise<TreeEntry | null> {
    return lookup(this.objects, (await this.readCommit(commitId)).tree, p);
  }

  async flatten(commitId: string | null): Promise<FlatTree> {
    if (!commitId) return new Map();
    return flatten(this.objects, (await this.readCommit(commitId)).tree);
  }

  /** `markers`: also yield each empty directory as the zero-byte S3 key `dir/`. */
  async *walk(commitId: string, prefix = '', opts: { startAfter?: string; markers?: boolean } = {}): AsyncGenerator<WalkItem> {
    yield* walk(this.objects, (await this.readCommit(commitId)).tree, prefix, opts.startAfter ?? '', opts.markers ?? false);
  }

  openFile(file: StoredFile, start?: number, end?: number): Readable {
    return openFile(this.blobs, file, start, end);
  }

  /** `store`: another BlobStore over this repository (dv serve: one pack writer per upload);
   * `md5From`: files smaller than this get no MD5 row (Ingestor). */
  ingestor({ store = this.blobs, ...opts }: Omit<IngestorOptions, 'onStored'> & { store?: BlobStore } = {}): Ingestor {
    return new Ingestor(store, this.config.chunker, { ...opts, onStored: (hash, md5) => this.md5s.record(hash, md5) });
  }

  /** Chunks and stores a stream (S3 uploads, imports); durable once this returns. */
  async storeStream(source: Readable | AsyncIterable<Uint8Array>): Promise<IngestedFile> {
    const stored = await this.ingestor().storeStream(source);
    this.blobs.flush();
    return stored;
  }

  /** DV_AUTHOR, else git's identity (GIT_AUTHOR_NAME/EMAIL, the git configs), else user@host. */
  author(): string {
    if (process.env.DV_AUTHOR) return process.env.DV_AUTHOR;
    const fromGit = gitIdentity(this.root);
    if (fromGit) return fromGit;
    const u = os.userInfo().username;
    return `${u} <${u}@${os.hostname()}>`;
  }

  private gitCache: { at: number; info: Promise<GitInfo | null> } | null = null;

  /** The enclosing git repository's HEAD and dirty flag, reused for a second: a server's
   * stream of commits (commitChanges) reads git once, not per commit. */
  private recentGitInfo(): Promise<GitInfo | null> {
    if (!this.gitCache || Date.now() - this.gitCache.at > 1000) this.gitCache = { at: Date.now(), info: gitInfo(this.root) };
    return this.gitCache.info;
  }

  /** The one place a commit object is made: author, time and code version filled in. */
  async writeCommit(c: NewCommit): Promise<string> {
    const commit: Commit = {
      tree: c.tree, parents: c.parents, paths: c.paths, message: c.message, author: this.author(),
      time: new Date().toISOString(), git: c.git !== undefined ? c.git : await gitInfo(this.root), run: c.run ?? null,
      ...(c.actor ? { identity: c.actor.identity, key: c.actor.key } : {}),
    };
    return this.objects.writeCommit(commit);
  }

  /**
   * Applies file changes to a branch as one commit, without touching the workspace.
   * Runs under the writer lock and reads the branch head inside it, so concurrent
   * writers serialise instead of losing updates. `check` sees the branch's current
   * files inside that locked section (conditional writes); throwing from it leaves
   * the branch alone. The commit's time is `(await readCommit(id)).time`.
   */
  async commitChanges(branch: string, changes: Map<string, StoredFile & { mode?: number } | null>, message: string,
    opts: CommitChangesOptions = {}): Promise<string> {
    checkRefName(branch, 'branch');
    for (const p of changes.keys()) checkCommitPath(isMarkerPath(p) ? p.slice(0, -1) : p);
    return this.withLock('commit', async () => {
      const actors = opts.actor === undefined ? [localActor()] : Array.isArray(opts.actor) ? opts.actor : [opts.actor];
      assertMayMove(this, branch, actors);
      const parent = this.refs.get(`heads/${branch}`) ?? null;
      if (!parent && opts.createBranch === false) throw new DvError(`no branch '${branch}'`, 1, 'UNKNOWN_REF');
      const base = parent ? await this.readCommit(parent) : null;
      const amend = parent !== null && parent === opts.amend;
      if (opts.check) await opts.check(await this.flatten(parent));
      const entries = new Map<string, FileEntry | null>();
      for (const [p, c] of changes) {
        entries.set(p, c && { name: p.split('/').pop()!, type: 'file', mode: c.mode ?? 0o644, size: c.size, hash: c.hash, chunks: c.chunks, ...(c.s3 ? { s3: c.s3 } : {}) });
      }
      const tracked = base?.paths ?? [];
      const added = [...changes.keys()].map((p) => (isMarkerPath(p) ? p.slice(0, -1) : p)).filter((p) => !tracked.some((t) => isUnder(p, t)))
        .map((p) => opts.track?.find((t) => isUnder(p, t)) ?? p.split('/')[0]);
      const paths = normalizeTracked([...tracked, ...added]);
      const tree = await updateTree(this.objects, base?.tree ?? null, entries);
      const git = opts.git !== undefined ? opts.git : await this.recentGitInfo();
      const id = await this.writeCommit({ tree, parents: amend ? base!.parents : parent ? [parent] : [], paths, message, run: opts.run, git, actor: opts.actor === undefined ? undefined : actors[0] });
      await opts.withCommit?.(id);
      this.blobs.flush();
      this.refs.set(`heads/${branch}`, id, `${opts.run ? 'run' : amend ? 'commit (amend)' : 'commit'}: ${message.split('\n')[0]}`);
      return id;
    }, { waitMs: opts.lockWaitMs });
  }
}

export type { FileEntry };

// The seam between the S3 protocol (this directory) and the repository (src/repo).
// The server only ever talks to a ProxyBackend, so the protocol can be tested
// against an in-memory double and the real Repo plugs in with a thin adapter.
import type { Actor } from '../repo/protect.js';
import type { Readable } from 'node:stream';
import type { FileEntry, IngestedFile, StoredFile, WalkItem } from '../repo/types.js';

/** A repository served as a bucket. */
export interface RepoInfo {
  /** Bucket name: lowercase letters, digits, dots and hyphens, 3-63 chars. */
  name: string;
  /** Shown as the bucket's CreationDate (e.g. time of the first commit). */
  created: Date;
}

export interface RefInfo {
  /** Short name without the `heads/` or `tags/` namespace, e.g. `main`, `v1`. */
  name: string;
  kind: 'branch' | 'tag';
  commit: string;
  /** Commit time of `commit`. */
  time: Date;
}

export interface ResolvedRef {
  commit: string;
  /** `commit` for anything that is not a branch or tag name (ids, prefixes, HEAD~N). */
  kind: 'branch' | 'tag' | 'commit';
  /** Commit time; served as Last-Modified of every object in that version. */
  time: Date;
}

/** A file to place at a path on commit; `mode` defaults to 0644 when absent. */
export type FileChange = StoredFile & { mode?: number };

/** Whether placing `change` (null: delete) at a path holding `cur` would change nothing. */
export function sameFile(cur: FileEntry | null, change: FileChange | null): boolean {
  if (change === null) return cur === null;
  return cur !== null && cur.hash === change.hash && cur.size === change.size
    && (change.mode === undefined || change.mode === cur.mode)
    && JSON.stringify(cur.s3 ?? null) === JSON.stringify(change.s3 ?? null);
}

export interface CommitResult {
  commit: string;
  time: Date;
  /** false when nothing changed (skipUnchanged) and `commit` is the branch head as it was. */
  created?: boolean;
  /** true when `commit` replaced the head named by CommitOptions.amend. */
  amended?: boolean;
}

export interface CommitOptions {
  /**
   * Conditional writes (If-Match / If-None-Match on PUT): each predicate gets the file
   * currently at that path on the branch head the commit is built on (null if none),
   * inside the same atomic section as the commit. If any returns false, throw
   * CommitConflict and leave the branch alone.
   */
  expect?: Map<string, (current: FileEntry | null) => boolean>;
  /** Who writes (the signing key and its identity): checked against branch protection, recorded in the commit. */
  actor?: Actor;
  /**
   * Leave out changes that would not change the file at that path (same content, mode
   * and S3 facts; deleting a missing path), judged inside the atomic section; when
   * nothing is left, make no commit and answer the current head (`created: false`).
   * A retried upload thus never leaves a trail of commits.
   */
  skipUnchanged?: boolean;
  /**
   * Group commit across batches (group-commit.ts): when the branch head is still this
   * commit (made by this server, not pushed anywhere since), replace it by one with the
   * same parents whose tree also holds these changes, instead of adding a commit on
   * top. Otherwise commit on top as usual. CommitResult.amended says which.
   */
  amend?: string;
  /** The message to use when amending (it covers the amended commit's writes too). */
  amendMessage?: string;
}

/** Thrown by ProxyBackend.commit when an `expect` predicate does not hold. */
export class CommitConflict extends Error {
  constructor(readonly path: string) {
    super(`precondition failed for ${path}`);
    this.name = 'CommitConflict';
  }
}

/**
 * Everything `dv serve` needs from a repository. Errors a user can cause are
 * thrown as DvError (mapped to 400); CorruptionError and anything else map to 500.
 */
export interface ProxyBackend {
  /** Buckets on offer; one repository per server today. */
  listRepos(): RepoInfo[];

  /** All branches and tags. Called once per request that addresses a key, so keep it cheap. */
  listRefs(repo: string): Promise<RefInfo[]>;

  /**
   * A ref as written in a key: branch, tag, full commit id, unique id prefix, HEAD, HEAD~N.
   * Returns null when nothing matches; throws DvError when it is ambiguous.
   */
  resolve(repo: string, ref: string): Promise<ResolvedRef | null>;

  /**
   * Files of a version whose path starts with `prefix` (plain string prefix, not a
   * directory) and sorts strictly after `startAfter`, lazily, in S3 key order (by
   * code point, which for keys equals UTF-8 byte order). Seeking with `startAfter`
   * must cost O(depth), not O(position): listings page through it.
   */
  walk(repo: string, commit: string, prefix: string, startAfter?: string): AsyncIterable<WalkItem>;

  /** The file at `path` in a version, or null (also for directories). */
  stat(repo: string, commit: string, path: string): Promise<FileEntry | null>;

  /**
   * Bytes [start, endExclusive) of a file, reading only the chunks that overlap the
   * range (binary search over chunk offsets) and verifying them as they are read.
   * The server destroys the stream when the client goes away.
   */
  open(repo: string, entry: StoredFile, start: number, endExclusive: number): Readable;

  /**
   * Chunk and store a stream. Must reject (and keep nothing referenced) when the
   * stream errors: the server errors the stream on bad signatures, checksums, or a
   * client that disconnects. Stored-but-uncommitted chunks are garbage for `dv gc`.
   */
  storeStream(repo: string, body: Readable): Promise<IngestedFile>;

  /**
   * The MD5 (hex) of a stored file's content: the ETag of an object written in one part.
   * Recorded when the file was stored; computed once (reading it) for older files.
   */
  md5(repo: string, entry: StoredFile): Promise<string>;

  /** md5 of each of `entries`, in order: a listing page's ETags, looked up together
   * (one read of the index, not one per key). */
  md5s(repo: string, entries: StoredFile[]): Promise<string[]>;

  /** One file made of `parts` in order (multipart complete); may re-read them to hash. */
  concat(repo: string, parts: StoredFile[]): Promise<StoredFile>;

  /**
   * Apply `changes` (null = delete) on top of the branch's *current* head and move the
   * branch, atomically: two concurrent calls must both land (no lost update).
   * Throws DvError when the branch does not exist.
   */
  commit(
    repo: string,
    branch: string,
    changes: Map<string, FileChange | null>,
    message: string,
    opts?: CommitOptions,
  ): Promise<CommitResult>;

  /** Why `actor` may not write `branch` (a protected branch), or null when it may. */
  writeRefusal?(repo: string, branch: string, actor: Actor): string | null;
}

// On-disk object models of the repo layer (see docs/ARCHITECTURE.md, "Objects").

/** One chunk of a file: [chunk id, length in bytes]. */
export type ChunkRef = [id: string, length: number];

export const MODE_FILE = 0o644;
export const MODE_EXEC = 0o755;
/** A symbolic link (git's 120000): its content is the link's target text, never followed. */
export const MODE_LINK = 0o120000;

export const isLink = (mode: number): boolean => mode === MODE_LINK;

export interface FileEntry {
  name: string;
  type: 'file';
  mode: number;
  size: number;
  /** BLAKE3 of the whole content: the per-file checksum users see. */
  hash: string;
  chunks: ChunkRef[];
  /** Id of the separately stored chunk list of a large file (set when read from a tree). */
  list?: string;
  /** What S3 clients were told when `dv serve` stored the file, where that is not
   * derivable from the content; absent for files added by dv add. */
  s3?: S3Meta;
}

/** S3 facts of a file written through `dv serve` (kept in its tree entry, so clones agree). */
export interface S3Meta {
  /** Multipart ETag (MD5 of the part MD5s, `-N`), unquoted; absent: the MD5 of the content. */
  etag?: string;
  /** Part sizes of a multipart upload, in order (GET ?partNumber=N). */
  parts?: number[];
  /** Flexible checksum sent with the upload: `crc32:BASE64` (multipart: `crc32:BASE64-N`). */
  checksum?: string;
  /** Content-Type given at upload, where it differs from what the extension gives. */
  type?: string;
  /** User metadata (`x-amz-meta-NAME`, NAME lowercase), names sorted. */
  meta?: Record<string, string>;
}

export interface DirEntry {
  name: string;
  type: 'dir';
  tree: string;
}

export type TreeEntry = FileEntry | DirEntry;

export interface Tree {
  /** Sorted by entrySortKey (directories as `name/`). */
  entries: TreeEntry[];
  /**
   * Ids of the part objects a large directory is stored in, in order (set when read or
   * written): its object is then `{"parts": [ids]}` and each part a tree holding a
   * contiguous range of the entries. See objects.ts.
   */
  parts?: string[];
}

/** Content stored but not yet placed in a tree. */
export type StoredFile = Omit<FileEntry, 'name' | 'type' | 'mode'>;

/** A file just chunked and stored, with the MD5 of its content computed on the way. */
export type IngestedFile = StoredFile & { md5: string };

export interface GitInfo {
  commit: string;
  dirty: boolean;
}

export interface Commit {
  tree: string;
  parents: string[];
  /** Tracked project-relative paths (files or directories) this commit covers. */
  paths: string[];
  message: string;
  author: string;
  /** ISO 8601, UTC. */
  time: string;
  git: GitInfo | null;
  /** Id of the pipeline run that produced this commit, if any. */
  run: string | null;
  /** Audit (commit format 1.1, optional): the identity a run or a proxy write acted as,
   * and the access key that signed the write. Absent in older commits (read as null). */
  identity?: string | null;
  key?: string | null;
}

/** A file found while walking a version, with its project-relative path. */
export interface WalkItem {
  path: string;
  entry: FileEntry;
}

// Storing the files a run reads (inputs the stat cache did not know) and writes (its
// outputs). The MD5 of each (its S3 ETag) comes from the same read; it is worth an index
// row only for files of 64 KiB and more: a small file's is computed on first need (one
// small read), which costs less than an index row per datum.
import type { Repo } from '../repo/repo.js';
import { Ingestor } from '../repo/ingest.js';
import type { StoredFile } from '../repo/types.js';

const MD5_INDEXED_FROM = 64 << 10;

export class RunIngest {
  private lastMd5 = '';
  private readonly ingest: Ingestor;

  constructor(repo: Repo) {
    this.ingest = new Ingestor(repo.blobs, repo.config.chunker, undefined, (_hash, md5) => { this.lastMd5 = md5; });
  }

  /** Stores a file; `md5` is its (hash, md5) index row when one is worth writing. */
  async storeFile(absPath: string): Promise<{ file: StoredFile; md5: [string, string] | null }> {
    const file = await this.ingest.storeFile(absPath);
    return { file, md5: file.size >= MD5_INDEXED_FROM ? [file.hash, this.lastMd5] : null };
  }
}

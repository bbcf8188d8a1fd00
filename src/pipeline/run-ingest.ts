// How a run stores the files it reads (inputs the stat cache did not know) and writes
// (its outputs). The MD5 of each (its S3 ETag) comes from the same read and is indexed
// (Md5Index, which waits for MD5s still being hashed on their thread) only for files of
// 64 KiB and more: a small file's is computed on first need (one small read), which
// costs less than hashing it and an index row per datum.
import type { Repo } from '../repo/repo.js';
import type { Ingestor } from '../repo/ingest.js';

const MD5_INDEXED_FROM = 64 << 10;

export function runIngestor(repo: Repo): Ingestor {
  return repo.ingestor({ md5From: MD5_INDEXED_FROM });
}

// S3 ETags of dv files, as S3 clients expect them: the MD5 of the content for
// objects written in one part (rclone, s3cmd and the AWS SDKs check downloads
// against it), and for multipart uploads the MD5 of the concatenated binary part
// MD5s followed by `-N`. BLAKE3 stays the identity of content inside dv.
import { createHash } from 'node:crypto';
import type { StoredFile } from '../repo/types.js';
import type { ProxyBackend } from './types.js';

export const quoteEtag = (t: string): string => `"${t}"`;

export const unquoteEtag = (t: string): string => t.trim().replace(/^"(.*)"$/, '$1');

/** The quoted ETag of a stored file (LIST, GET, HEAD, CopyObject, conditions). */
export async function objectEtag(backend: ProxyBackend, bucket: string, file: StoredFile): Promise<string> {
  return quoteEtag(file.s3?.etag ?? await backend.md5(bucket, file));
}

/** objectEtag of many files (a listing page), their MD5s looked up in one batch. */
export async function objectEtags(backend: ProxyBackend, bucket: string, files: StoredFile[]): Promise<string[]> {
  const plain = files.filter((f) => f.s3?.etag === undefined);
  const md5s = plain.length ? await backend.md5s(bucket, plain) : [];
  let i = 0;
  return files.map((f) => quoteEtag(f.s3?.etag ?? md5s[i++]!));
}

/** S3's multipart ETag from the hex MD5s of the parts, in order (unquoted). */
export function multipartEtag(partMd5s: string[]): string {
  const h = createHash('md5');
  for (const m of partMd5s) h.update(Buffer.from(m, 'hex'));
  return `${h.digest('hex')}-${partMd5s.length}`;
}

// Writes: PutObject, CopyObject, DeleteObject, DeleteObjects. Each request's changes
// are committed atomically on a branch (DeleteObjects: per branch it touches), only
// after the whole body arrived and verified; concurrent writes to one branch share
// commits (group-commit.ts), and a write that changes nothing makes none.
import { checksumHeaders, smallBodyOf, storeBody, type StoredBody } from '../body.js';
import { S3Error, s3err } from '../errors.js';
import { objectEtag, quoteEtag, unquoteEtag } from '../etag.js';
import { enforceConditions } from '../http-util.js';
import { locate, type Located } from '../listing.js';
import { canWritePath } from '../keys.js';
import { actorOf, type Ctx, header, requireWrite, sendEmpty, sendXml, validateKey } from '../request.js';
import type { PendingWrite } from '../group-commit.js';
import { CommitConflict, type FileChange } from '../types.js';
import * as xml from '../xml.js';
import { findObject } from './read.js';
import { copiedMeta, requestMeta, withMeta } from '../object-meta.js';
import type { FileEntry, S3Meta } from '../../repo/types.js';

/** The branch and path a write goes to, with permission checked. */
export async function writeTarget(ctx: Ctx, bucket: string, key: string): Promise<Located> {
  validateKey(key, true);
  const loc = await locate(ctx, bucket, key);
  if (!loc) {
    throw s3err('NoSuchKey', `No branch matches the start of '${key}'; writes go to an existing branch (create one with dv branch).`, { Key: key });
  }
  requireWrite(ctx, loc.ref, loc.kind);
  if (loc.path === '') throw s3err('InvalidArgument', `'${key}' names a branch, not a file: use <branch>/<path>.`);
  if (!canWritePath(ctx.principal!, loc.ref, loc.path)) throw s3err('AccessDenied', `Access Denied: this key may not write '${key}' (only below ${ctx.principal!.writePaths!.join(', ')}).`);
  return loc;
}

export function commitMessage(ctx: Ctx, op: string, what: string): string {
  const who = ctx.principal ? ` (key ${ctx.principal.id})` : '';
  return `dv serve: ${op} ${what}${who}`;
}

/**
 * If-Match / If-None-Match on a write, checked inside the commit (atomic with it):
 * If-None-Match: * means "only if absent", If-Match means "only if it still has this ETag".
 */
async function writeConditions(ctx: Ctx, bucket: string, loc: Located): Promise<Map<string, (cur: FileEntry | null) => boolean> | undefined> {
  const ifMatch = header(ctx, 'if-match');
  const ifNoneMatch = header(ctx, 'if-none-match');
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined;
  // The predicate runs inside the commit's atomic section and cannot wait: the ETag of
  // the file the client saw is looked up now, and compared by content inside.
  const seen = await ctx.backend.stat(bucket, loc.commit, loc.path);
  if (ifMatch !== undefined && seen === null) throw s3err('NoSuchKey', 'The specified key does not exist.', { Key: ctx.key });
  const seenEtag = seen ? unquoteEtag(await objectEtag(ctx.backend, bucket, seen)) : undefined;
  const listed = (h: string): string[] => h.split(',').map(unquoteEtag).filter((t) => t !== '');
  const etagOf = (cur: FileEntry): string | undefined =>
    seen && cur.hash === seen.hash && JSON.stringify(cur.s3 ?? null) === JSON.stringify(seen.s3 ?? null) ? seenEtag : undefined;
  const check = (cur: FileEntry | null): boolean => {
    if (ifNoneMatch !== undefined && cur !== null) {
      const tags = listed(ifNoneMatch);
      const etag = etagOf(cur);
      if (tags.includes('*') || (etag !== undefined && tags.includes(etag))) return false;
    }
    if (ifMatch !== undefined) {
      if (cur === null) return false;
      const tags = listed(ifMatch);
      const etag = etagOf(cur);
      if (!tags.includes('*') && (etag === undefined || !tags.includes(etag))) return false;
    }
    return true;
  };
  return new Map([[loc.path, check]]);
}

/** Commits `changes` on the branch of `loc` (shared with concurrent writes); 412 when a precondition fails. */
export async function commitWrite(ctx: Ctx, bucket: string, branch: string, changes: Map<string, FileChange | null>,
  message: string, expect?: Map<string, (cur: FileEntry | null) => boolean>, started?: PendingWrite) {
  const pending = started ?? ctx.commits.begin(bucket, branch, actorOf(ctx) ?? undefined);
  try {
    return await pending.commit(changes, message, { expect });
  } catch (e) {
    if (e instanceof CommitConflict) throw s3err('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.');
    throw e;
  } finally {
    if (!started) pending.end();
  }
}

/** What a single-part upload told the client beyond its content: its flexible checksum. */
export function s3MetaOf(stored: StoredBody): S3Meta | undefined {
  return stored.checksum ? { checksum: `${stored.checksum.alg}:${stored.checksum.value}` } : undefined;
}

/** SSE needs keys dv does not manage: refused rather than silently stored in clear. */
export function refuseEncryption(ctx: Ctx): void {
  for (const h of ['x-amz-server-side-encryption', 'x-amz-server-side-encryption-customer-algorithm',
    'x-amz-server-side-encryption-aws-kms-key-id', 'x-amz-copy-source-server-side-encryption-customer-algorithm']) {
    if (header(ctx, h) !== undefined) throw s3err('NotImplemented', `Server-side encryption (${h}) is not implemented by dv serve.`);
  }
}

export async function putObject(ctx: Ctx): Promise<void> {
  refuseEncryption(ctx);
  if (header(ctx, 'x-amz-copy-source') !== undefined) return copyObject(ctx);
  const bucket = ctx.bucket!;
  const loc = await writeTarget(ctx, bucket, ctx.key);
  const expect = await writeConditions(ctx, bucket, loc);
  const pending = ctx.commits.begin(bucket, loc.ref, actorOf(ctx) ?? undefined); // counted as in flight while its body arrives
  try {
    const stored = await storeBody(ctx, bucket);
    const s3 = withMeta(s3MetaOf(stored), requestMeta(ctx, loc.path));
    const change: FileChange = { size: stored.size, hash: stored.hash, chunks: stored.chunks, ...(s3 ? { s3 } : {}) };
    const result = await commitWrite(ctx, bucket, loc.ref, new Map([[loc.path, change]]), commitMessage(ctx, 'PutObject', loc.path), expect, pending);
    sendEmpty(ctx, 200, { etag: quoteEtag(stored.md5), ...checksumHeaders(stored.checksum), 'x-dv-commit': result.commit });
  } finally {
    pending.end();
  }
}

/** `x-amz-copy-source: [/]bucket/key[?versionId=...]`, URL-encoded. */
export function parseCopySource(ctx: Ctx): { bucket: string; key: string } {
  const raw = header(ctx, 'x-amz-copy-source')!;
  const q = raw.indexOf('?');
  const pathPart = q < 0 ? raw : raw.slice(0, q);
  if (q >= 0 && !/^versionId=null$/.test(raw.slice(q + 1))) {
    throw s3err('InvalidArgument', 'Versions are addressed by ref: put a commit id or tag in the copy source key instead of versionId.');
  }
  if (/%2f/i.test(pathPart)) throw s3err('InvalidArgument', 'Encoded slashes (%2F) are not allowed in the copy source.');
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathPart).replace(/^\//, '');
  } catch {
    throw s3err('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey.');
  }
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) {
    throw s3err('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey.');
  }
  const bucket = decoded.slice(0, slash);
  if (!ctx.backend.listRepos().some((r) => r.name === bucket)) throw s3err('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
  return { bucket, key: decoded.slice(slash + 1) };
}

export async function copySourceEntry(ctx: Ctx): Promise<{ bucket: string; key: string; path: string; entry: FileEntry }> {
  const src = parseCopySource(ctx);
  const { loc, entry } = await findObject(ctx, src.bucket, src.key);
  try {
    enforceConditions({
      ifMatch: header(ctx, 'x-amz-copy-source-if-match'),
      ifNoneMatch: header(ctx, 'x-amz-copy-source-if-none-match'),
      ifModifiedSince: header(ctx, 'x-amz-copy-source-if-modified-since'),
      ifUnmodifiedSince: header(ctx, 'x-amz-copy-source-if-unmodified-since'),
    }, await objectEtag(ctx.backend, src.bucket, entry), loc.time, 'COPY'); // not GET: a failed If-None-Match is 412 here
  } catch (e) {
    if (e instanceof S3Error) throw s3err('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.');
    throw e;
  }
  return { bucket: src.bucket, key: src.key, path: loc.path, entry };
}

export async function copyObject(ctx: Ctx): Promise<void> {
  const bucket = ctx.bucket!;
  const loc = await writeTarget(ctx, bucket, ctx.key);
  const expect = await writeConditions(ctx, bucket, loc);
  const src = await copySourceEntry(ctx);
  const directive = (header(ctx, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw s3err('InvalidArgument', 'Unknown metadata directive.', { ArgumentName: 'x-amz-metadata-directive' });
  if (src.bucket === bucket && src.key === ctx.key && directive === 'COPY') {
    throw s3err('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.');
  }
  // The copy is the same file: same chunks, same ETag, same S3 facts; its metadata is
  // the source's (COPY: its Content-Type as the source served it) or the request's (REPLACE).
  const meta = directive === 'REPLACE' ? requestMeta(ctx, loc.path) : copiedMeta(src.entry.s3, src.path, loc.path);
  const s3 = withMeta(src.entry.s3, meta);
  let change: FileChange = { size: src.entry.size, hash: src.entry.hash, chunks: src.entry.chunks, mode: src.entry.mode, ...(s3 ? { s3 } : {}) };
  if (src.bucket !== bucket) {
    // Another repository's chunks are not in this store: copy the bytes.
    const copied = await ctx.backend.storeStream(bucket, ctx.backend.open(src.bucket, src.entry, 0, src.entry.size));
    change = { size: copied.size, hash: copied.hash, chunks: copied.chunks, ...(s3 ? { s3 } : {}) };
  }
  const result = await commitWrite(ctx, bucket, loc.ref, new Map([[loc.path, change]]), commitMessage(ctx, 'CopyObject', loc.path), expect);
  sendXml(ctx, 200, xml.copyObjectResult(await objectEtag(ctx.backend, bucket, change), result.time), { 'x-dv-commit': result.commit });
}

export async function deleteObject(ctx: Ctx): Promise<void> {
  const bucket = ctx.bucket!;
  const loc = await writeTarget(ctx, bucket, ctx.key);
  const existing = await ctx.backend.stat(bucket, loc.commit, loc.path);
  // S3 answers 204 for keys that do not exist; an empty commit would only add noise.
  if (existing) {
    const result = await commitWrite(ctx, bucket, loc.ref, new Map([[loc.path, null]]), commitMessage(ctx, 'DeleteObject', loc.path), await writeConditions(ctx, bucket, loc));
    sendEmpty(ctx, 204, { 'x-dv-commit': result.commit });
    return;
  }
  sendEmpty(ctx, 204);
}

export async function deleteObjects(ctx: Ctx): Promise<void> {
  const bucket = ctx.bucket!;
  const { quiet, keys } = xml.parseDelete((await smallBodyOf(ctx)).toString('utf8'));
  if (keys.length > 1000) throw s3err('MalformedXML', 'The request may not contain more than 1000 keys.');
  const errors: { key: string; code: string; message: string }[] = [];
  const byBranch = new Map<string, { loc: Located; keys: string[]; paths: Set<string> }>();
  for (const key of keys) {
    try {
      const loc = await writeTarget(ctx, bucket, key);
      let group = byBranch.get(loc.ref);
      if (!group) byBranch.set(loc.ref, (group = { loc, keys: [], paths: new Set() }));
      group.keys.push(key);
      group.paths.add(loc.path);
    } catch (e) {
      if (!(e instanceof S3Error)) throw e;
      errors.push({ key, code: e.code, message: e.message });
    }
  }
  const deleted: string[] = [];
  for (const { loc, keys: groupKeys, paths } of byBranch.values()) {
    const changes = new Map<string, null>();
    for (const p of paths) if (await ctx.backend.stat(bucket, loc.commit, p)) changes.set(p, null);
    try {
      if (changes.size > 0) await commitWrite(ctx, bucket, loc.ref, changes, commitMessage(ctx, 'DeleteObjects', `${changes.size} file(s)`));
      deleted.push(...groupKeys);
    } catch (e) {
      const err = e instanceof S3Error ? e : s3err('InternalError', 'We encountered an internal error. Please try again.');
      for (const key of groupKeys) errors.push({ key, code: err.code, message: err.message });
    }
  }
  sendXml(ctx, 200, xml.deleteResult(quiet ? [] : deleted, errors));
}

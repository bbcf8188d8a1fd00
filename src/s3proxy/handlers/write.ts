// Writes: PutObject, CopyObject, DeleteObject, DeleteObjects. Each request becomes
// one atomic commit on a branch (DeleteObjects: one per branch it touches), made
// only after the whole body arrived and verified.
import { smallBodyOf, storeBody } from '../body.js';
import { S3Error, s3err } from '../errors.js';
import { enforceConditions, etagFor } from '../http-util.js';
import { locate, type Located } from '../listing.js';
import { type Ctx, header, requireWrite, sendEmpty, sendXml, validateKey } from '../request.js';
import { CommitConflict, type FileChange } from '../types.js';
import * as xml from '../xml.js';
import { findObject } from './read.js';
import type { FileEntry } from '../../repo/types.js';

/** The branch and path a write goes to, with permission checked. */
export async function writeTarget(ctx: Ctx, bucket: string, key: string): Promise<Located> {
  validateKey(key, true);
  const loc = await locate(ctx, bucket, key);
  if (!loc) {
    throw s3err('NoSuchKey', `No branch matches the start of '${key}'; writes go to an existing branch (create one with dv branch).`, { Key: key });
  }
  requireWrite(ctx, loc.ref, loc.kind);
  if (loc.path === '') throw s3err('InvalidArgument', `'${key}' names a branch, not a file: use <branch>/<path>.`);
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
function writeConditions(ctx: Ctx, path: string): Map<string, (cur: FileEntry | null) => boolean> | undefined {
  const ifMatch = header(ctx, 'if-match');
  const ifNoneMatch = header(ctx, 'if-none-match');
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined;
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
    throw s3err('NotImplemented', 'If-None-Match on writes supports only "*".');
  }
  const check = (cur: FileEntry | null): boolean => {
    if (ifNoneMatch !== undefined && cur !== null) return false;
    if (ifMatch !== undefined) {
      if (cur === null) return false;
      try {
        enforceConditions({ ifMatch }, etagFor(cur.hash), new Date(0), 'PUT');
      } catch {
        return false;
      }
    }
    return true;
  };
  return new Map([[path, check]]);
}

async function commitOne(ctx: Ctx, bucket: string, loc: Located, change: FileChange | null, op: string) {
  const expect = writeConditions(ctx, loc.path);
  try {
    return await ctx.backend.commit(bucket, loc.ref, new Map([[loc.path, change]]), commitMessage(ctx, op, loc.path), { expect });
  } catch (e) {
    if (e instanceof CommitConflict) throw s3err('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.');
    throw e;
  }
}

export async function putObject(ctx: Ctx): Promise<void> {
  if (header(ctx, 'x-amz-copy-source') !== undefined) return copyObject(ctx);
  const bucket = ctx.bucket!;
  const loc = await writeTarget(ctx, bucket, ctx.key);
  const stored = await storeBody(ctx, bucket);
  const result = await commitOne(ctx, bucket, loc, stored, 'PutObject');
  sendEmpty(ctx, 200, { etag: etagFor(stored.hash), 'x-dv-commit': result.commit });
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

export async function copySourceEntry(ctx: Ctx): Promise<{ bucket: string; entry: FileEntry }> {
  const src = parseCopySource(ctx);
  const { loc, entry } = await findObject(ctx, src.bucket, src.key);
  try {
    enforceConditions({
      ifMatch: header(ctx, 'x-amz-copy-source-if-match'),
      ifNoneMatch: header(ctx, 'x-amz-copy-source-if-none-match'),
      ifModifiedSince: header(ctx, 'x-amz-copy-source-if-modified-since'),
      ifUnmodifiedSince: header(ctx, 'x-amz-copy-source-if-unmodified-since'),
    }, etagFor(entry.hash), loc.time, 'COPY'); // not GET: a failed If-None-Match is 412 here
  } catch (e) {
    if (e instanceof S3Error) throw s3err('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.');
    throw e;
  }
  return { bucket: src.bucket, entry };
}

export async function copyObject(ctx: Ctx): Promise<void> {
  const bucket = ctx.bucket!;
  const loc = await writeTarget(ctx, bucket, ctx.key);
  const src = await copySourceEntry(ctx);
  let change: FileChange = { size: src.entry.size, hash: src.entry.hash, chunks: src.entry.chunks, mode: src.entry.mode };
  if (src.bucket !== bucket) {
    // Another repository's chunks are not in this store: copy the bytes.
    change = await ctx.backend.storeStream(bucket, ctx.backend.open(src.bucket, src.entry, 0, src.entry.size));
  }
  const result = await commitOne(ctx, bucket, loc, change, 'CopyObject');
  sendXml(ctx, 200, xml.copyObjectResult(etagFor(change.hash), result.time), { 'x-dv-commit': result.commit });
}

export async function deleteObject(ctx: Ctx): Promise<void> {
  const bucket = ctx.bucket!;
  const loc = await writeTarget(ctx, bucket, ctx.key);
  const existing = await ctx.backend.stat(bucket, loc.commit, loc.path);
  // S3 answers 204 for keys that do not exist; an empty commit would only add noise.
  if (existing) {
    const result = await commitOne(ctx, bucket, loc, null, 'DeleteObject');
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
      if (changes.size > 0) await ctx.backend.commit(bucket, loc.ref, changes, commitMessage(ctx, 'DeleteObjects', `${changes.size} file(s)`));
      deleted.push(...groupKeys);
    } catch (e) {
      const err = e instanceof S3Error ? e : s3err('InternalError', 'We encountered an internal error. Please try again.');
      for (const key of groupKeys) errors.push({ key, code: err.code, message: err.message });
    }
  }
  sendXml(ctx, 200, xml.deleteResult(quiet ? [] : deleted, errors));
}

// Read operations: ListBuckets, HeadBucket, GetBucketLocation, ListObjects v1/v2,
// GetObject and HeadObject.
import { pipeline } from 'node:stream';
import { S3Error, s3err } from '../errors.js';
import { objectEtag, objectEtags } from '../etag.js';
import { contentRange, enforceConditions, httpDateString, parseRange } from '../http-util.js';
import { listPage, locate, parseMax, type Located } from '../listing.js';
import { type Ctx, header, requireRead, sendEmpty, sendXml, validateKey } from '../request.js';
import * as xml from '../xml.js';
import { metaHeaders } from '../object-meta.js';
import type { FileEntry } from '../../repo/types.js';

export function listBuckets(ctx: Ctx): void {
  sendXml(ctx, 200, xml.listAllMyBuckets(ctx.backend.listRepos()));
}

export function headBucket(ctx: Ctx): void {
  sendEmpty(ctx, 200, { 'x-amz-bucket-region': ctx.opts.region ?? 'us-east-1' });
}

export function bucketLocation(ctx: Ctx): void {
  sendXml(ctx, 200, xml.locationConstraint(ctx.opts.region ?? 'us-east-1'));
}

function encodeToken(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  const key = Buffer.from(token, 'base64url').toString('utf8');
  if (token === '' || encodeToken(key) !== token) {
    throw s3err('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
  }
  return key;
}

export async function listObjects(ctx: Ctx, v2: boolean): Promise<void> {
  const q = ctx.query;
  const encoding = q.get('encoding-type');
  if (encoding !== undefined && encoding !== 'url') {
    throw s3err('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type', ArgumentValue: encoding });
  }
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxKeys = parseMax(q.get('max-keys'), 'max-keys');
  // An empty continuation token is no token (Ceph s3-tests), not a malformed one.
  const token = v2 ? (q.get('continuation-token') || undefined) : undefined;
  const startAfter = v2 ? q.get('start-after') : q.get('marker');
  const after = token !== undefined ? decodeToken(token) : startAfter || undefined;
  const page = await listPage(ctx, ctx.bucket!, { prefix, delimiter, after, maxKeys });
  const etags = await objectEtags(ctx.backend, ctx.bucket!, page.contents.map((c) => c.entry));
  const common = {
    bucket: ctx.bucket!,
    prefix,
    delimiter,
    maxKeys,
    urlEncode: encoding === 'url',
    isTruncated: page.isTruncated,
    contents: page.contents.map((c, i) => ({ key: c.key, lastModified: c.time, etag: etags[i]!, size: c.entry.size })),
    commonPrefixes: page.commonPrefixes,
  };
  const next = page.isTruncated ? page.last : undefined;
  const body = v2
    ? xml.listObjectsV2({
      ...common,
      continuationToken: q.get('continuation-token'), // echoed as sent, '' too
      nextContinuationToken: next === undefined ? undefined : encodeToken(next),
      startAfter: q.get('start-after'),
      fetchOwner: q.get('fetch-owner') === 'true',
    })
    // AWS returns NextMarker only with a delimiter; without one the last Key is the marker.
    : xml.listObjectsV1({ ...common, marker: q.get('marker') ?? '', nextMarker: delimiter ? next : undefined });
  sendXml(ctx, 200, body);
}

/** Find the file a key names, enforcing read permission; NoSuchKey otherwise. */
export async function findObject(ctx: Ctx, bucket: string, key: string): Promise<{ loc: Located; entry: FileEntry }> {
  validateKey(key, false);
  const loc = await locate(ctx, bucket, key);
  const missing = (): Error => s3err('NoSuchKey', 'The specified key does not exist.', { Key: key });
  if (!loc) throw missing();
  requireRead(ctx, loc.ref, loc.kind);
  if (loc.path === '') throw missing();
  const entry = await ctx.backend.stat(bucket, loc.commit, loc.path);
  if (!entry) throw missing();
  return { loc, entry };
}

const OVERRIDES: [string, string][] = [
  ['response-content-type', 'content-type'],
  ['response-content-language', 'content-language'],
  ['response-expires', 'expires'],
  ['response-cache-control', 'cache-control'],
  ['response-content-disposition', 'content-disposition'],
  ['response-content-encoding', 'content-encoding'],
];

function overrides(ctx: Ctx): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [param, name] of OVERRIDES) {
    const v = ctx.query.get(param);
    if (v === undefined) continue;
    // AWS allows these only on signed requests: a public link must not be restyled.
    if (ctx.principal === null) throw s3err('InvalidRequest', 'Request specific response headers cannot be used for anonymous GET requests.');
    if (/[\u0000-\u001f\u007f]/.test(v)) throw s3err('InvalidArgument', `Invalid value for ${param}.`);
    out[name] = v;
  }
  return out;
}

/**
 * GET/HEAD ?partNumber=N: the bytes of part N of a multipart upload (206, with
 * x-amz-mp-parts-count); part 1 of any other object is all of it; past the last part, 400.
 */
function partRange(ctx: Ctx, entry: FileEntry): { kind: 'range'; start: number; end: number } | { kind: 'none' } | undefined {
  const v = ctx.query.get('partNumber');
  if (v === undefined) return undefined;
  const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= 10_000)) throw s3err('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', { ArgumentName: 'partNumber', ArgumentValue: v });
  if (header(ctx, 'range') !== undefined) throw s3err('InvalidRequest', 'Cannot specify both Range header and partNumber query parameter.');
  const parts = entry.s3?.parts;
  const count = parts?.length ?? 1;
  if (n > count) throw s3err('InvalidPart', `The requested partnumber is not satisfiable: the object has ${count} part(s).`, { PartNumberRequested: v, ActualPartCount: String(count) });
  if (!parts) return { kind: 'none' };
  let start = 0;
  for (let i = 0; i < n - 1; i++) start += parts[i]!;
  return { kind: 'range', start, end: start + parts[n - 1]! };
}

export async function getObject(ctx: Ctx, head: boolean): Promise<void> {
  const versionId = ctx.query.get('versionId');
  if (versionId !== undefined && versionId !== 'null') {
    throw s3err('InvalidArgument', 'Versions are addressed by ref: put a commit id or tag at the start of the key instead of versionId.');
  }
  const { loc, entry } = await findObject(ctx, ctx.bucket!, ctx.key);
  const etag = await objectEtag(ctx.backend, ctx.bucket!, entry);
  const validators = { etag, 'last-modified': httpDateString(loc.time) };
  try {
    enforceConditions({
      ifMatch: header(ctx, 'if-match'),
      ifNoneMatch: header(ctx, 'if-none-match'),
      ifModifiedSince: header(ctx, 'if-modified-since'),
      ifUnmodifiedSince: header(ctx, 'if-unmodified-since'),
    }, etag, loc.time, ctx.method);
  } catch (e) {
    if (e instanceof S3Error) Object.assign(e.headers, validators);
    throw e;
  }
  const size = entry.size;
  const part = partRange(ctx, entry);
  const range = part ?? parseRange(header(ctx, 'range'), size);
  if (range.kind === 'unsatisfiable') {
    throw new S3Error('InvalidRange', 'The requested range is not satisfiable', {
      extra: { RangeRequested: header(ctx, 'range') ?? '', ActualObjectSize: String(size) },
      headers: { 'content-range': `bytes */${size}` },
    });
  }
  const [start, end] = range.kind === 'range' ? [range.start, range.end] : [0, size];
  const headers: Record<string, string> = {
    'x-amz-request-id': ctx.requestId,
    'x-amz-id-2': ctx.requestId,
    server: 'dv',
    ...metaHeaders(entry.s3, loc.path),
    'content-length': String(end - start),
    'accept-ranges': 'bytes',
    ...validators,
    'x-dv-commit': loc.commit,
    ...overrides(ctx),
  };
  if (range.kind === 'range') headers['content-range'] = contentRange(start, end, size);
  if (part && entry.s3?.parts) headers['x-amz-mp-parts-count'] = String(entry.s3.parts.length);
  const checksum = entry.s3?.checksum;
  if (checksum && range.kind === 'none' && /^enabled$/i.test(header(ctx, 'x-amz-checksum-mode') ?? '')) {
    const [alg, value] = [checksum.slice(0, checksum.indexOf(':')), checksum.slice(checksum.indexOf(':') + 1)];
    headers[`x-amz-checksum-${alg}`] = value;
    headers['x-amz-checksum-type'] = /-\d+$/.test(value) ? 'COMPOSITE' : 'FULL_OBJECT';
  }
  const status = range.kind === 'range' ? 206 : 200;
  ctx.status = status;
  if (head || start === end) {
    ctx.res.writeHead(status, headers);
    ctx.res.end();
    return;
  }
  const src = ctx.backend.open(ctx.bucket!, entry, start, end);
  ctx.res.writeHead(status, headers);
  await new Promise<void>((resolve) => {
    // pipeline destroys the chunk reader when the client goes away mid-stream, and
    // destroys the response when reading fails: the client sees a short body, never
    // a silently truncated 200.
    pipeline(src, ctx.res, (err) => {
      if (err) {
        ctx.errorCode = 'StreamAborted';
        ctx.res.destroy();
      }
      resolve();
    });
  });
}

// The request body of a write, decoded and verified while it streams: aws-chunked
// framing, x-amz-content-sha256, Content-MD5, x-amz-checksum-* headers or trailers,
// and size limits. Every check fails the stream (never a partial success), and the
// server commits only after the stream ended cleanly.
import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { createChecksum, isChecksumAlgorithm, type Checksum, type ChecksumAlgorithm } from './checksums.js';
import { AwsChunkedDecoder, type ChunkedMode } from './chunked.js';
import { s3err } from './errors.js';
import type { IngestedFile } from '../repo/types.js';
import type { Ctx } from './request.js';
import { STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER, type VerifiedRequest } from './sigv4.js';

export const MAX_OBJECT_SIZE = 5 * 1024 ** 3;

interface Expected {
  alg: ChecksumAlgorithm | 'md5';
  /** base64 digest from a header, or undefined when it arrives as a trailer. */
  value?: string;
  header: string;
  sum: Checksum;
}

/** A flexible checksum the body was verified against (sent as header or trailer). */
export interface VerifiedChecksum {
  alg: ChecksumAlgorithm;
  /** base64, as S3 transmits it */
  value: string;
}

class BodyVerifier extends Transform {
  count = 0;
  /** Set once the body ended and passed every check. */
  verified: VerifiedChecksum[] = [];
  private sha: Hash | null;

  constructor(
    private readonly maxSize: number,
    private readonly expectedLength: number | undefined,
    private readonly sha256: string | undefined,
    private readonly sums: Expected[],
    private readonly decoder: AwsChunkedDecoder | undefined,
  ) {
    super();
    this.sha = sha256 ? createHash('sha256') : null;
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.count += chunk.length;
    if (this.count > this.maxSize) return cb(s3err('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size.', { MaxSizeAllowed: String(this.maxSize) }));
    if (this.expectedLength !== undefined && this.count > this.expectedLength) {
      return cb(s3err('IncompleteBody', 'The request body is longer than x-amz-decoded-content-length.'));
    }
    this.sha?.update(chunk);
    for (const s of this.sums) s.sum.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.expectedLength !== undefined && this.count !== this.expectedLength) {
      return cb(s3err('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.'));
    }
    if (this.sha && this.sha.digest('hex') !== this.sha256) {
      return cb(s3err('XAmzContentSHA256Mismatch', 'The provided \'x-amz-content-sha256\' header does not match what was computed.'));
    }
    for (const s of this.sums) {
      const want = s.value ?? this.decoder?.trailers.get(s.header);
      if (want === undefined) return cb(s3err('InvalidRequest', `The trailing checksum ${s.header} announced in x-amz-trailer was not sent.`));
      if (s.sum.digestBase64() !== want) {
        const name = s.alg === 'md5' ? 'Content-MD5' : s.alg.toUpperCase();
        return cb(s3err('BadDigest', `The ${name} you specified did not match the calculated checksum.`));
      }
      if (s.alg !== 'md5') this.verified.push({ alg: s.alg, value: want });
    }
    cb();
  }
}

function one(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function chunkedMode(payloadHash: string): ChunkedMode | undefined {
  if (payloadHash === STREAMING_SIGNED) return 'signed';
  if (payloadHash === STREAMING_SIGNED_TRAILER) return 'signed-trailer';
  if (payloadHash === STREAMING_UNSIGNED_TRAILER) return 'unsigned-trailer';
  return undefined;
}

function expectedSums(req: IncomingMessage, chunked: boolean, headerChecksums: boolean): Expected[] {
  const sums: Expected[] = [];
  const md5 = one(req, 'content-md5');
  if (md5 !== undefined) {
    if (!/^[A-Za-z0-9+/]{22}==$/.test(md5)) throw s3err('InvalidDigest', 'The Content-MD5 you specified was invalid.');
    sums.push({ alg: 'md5', value: md5, header: 'content-md5', sum: createChecksum('md5') });
  }
  for (const [name, raw] of headerChecksums ? Object.entries(req.headers) : []) {
    const alg = name.startsWith('x-amz-checksum-') ? name.slice('x-amz-checksum-'.length) : '';
    if (!isChecksumAlgorithm(alg) || typeof raw !== 'string') continue; // unknown algorithms are advisory
    sums.push({ alg, value: raw, header: name, sum: createChecksum(alg) });
  }
  const trailer = one(req, 'x-amz-trailer');
  if (trailer !== undefined) {
    if (!chunked) throw s3err('InvalidRequest', 'x-amz-trailer requires an aws-chunked STREAMING-* payload.');
    for (const name of trailer.split(',').map((s) => s.trim().toLowerCase())) {
      const alg = name.startsWith('x-amz-checksum-') ? name.slice('x-amz-checksum-'.length) : '';
      if (isChecksumAlgorithm(alg)) sums.push({ alg, header: name, sum: createChecksum(alg) });
    }
  }
  return sums;
}

function parseLength(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,16}$/.test(v)) throw s3err('InvalidArgument', `Invalid ${what}.`);
  return Number(v);
}

export interface BodyOptions {
  maxSize?: number;
  /**
   * Whether x-amz-checksum-* request headers describe this body. They do for PutObject,
   * UploadPart and DeleteObjects; on CompleteMultipartUpload they describe the object.
   */
  headerChecksums?: boolean;
}

/**
 * The decoded, verified body of `req`. The returned stream errors with an S3Error on
 * any failed check and with a plain Error when the client disconnects. The request is
 * never destroyed here, so the server can still answer with an S3 error; it answers
 * with `Connection: close` when the body was not read to its end.
 */
export function requestBody(req: IncomingMessage, auth: VerifiedRequest, opts: BodyOptions = {}): Readable & { verified: VerifiedChecksum[] } {
  const maxSize = opts.maxSize ?? MAX_OBJECT_SIZE;
  const mode = chunkedMode(auth.payloadHash);
  const declared = parseLength(one(req, 'content-length'), 'Content-Length');
  const decodedLen = parseLength(one(req, 'x-amz-decoded-content-length'), 'x-amz-decoded-content-length');
  const expectedLength = mode ? decodedLen : declared;
  if (expectedLength !== undefined && expectedLength > maxSize) {
    throw s3err('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size.', { MaxSizeAllowed: String(maxSize) });
  }
  const sums = expectedSums(req, mode !== undefined, opts.headerChecksums ?? true);
  const decoder = mode
    ? new AwsChunkedDecoder(mode, mode === 'unsigned-trailer' ? undefined : auth)
    : undefined;
  const sha = /^[0-9a-f]{64}$/.test(auth.payloadHash) ? auth.payloadHash : undefined;
  const verifier = new BodyVerifier(maxSize, expectedLength, sha, sums, decoder);
  const stages: Transform[] = decoder ? [decoder, verifier] : [verifier];

  let failed = false;
  const fail = (err: Error): void => {
    if (failed) return;
    failed = true;
    req.unpipe();
    for (const s of stages) s.destroy(err);
  };
  let prev: Readable = req;
  for (const s of stages) {
    prev.pipe(s);
    s.on('error', fail);
    prev = s;
  }
  req.on('error', fail);
  req.on('close', () => {
    if (!req.complete) fail(new Error('the client disconnected during the upload'));
  });
  return verifier;
}

/** A small body (XML) read fully, with the same verification and a size cap. */
export async function readSmallBody(req: IncomingMessage, auth: VerifiedRequest, limit = 2 * 1024 * 1024, headerChecksums = true): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of requestBody(req, auth, { maxSize: limit, headerChecksums })) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Start reading a write's body: only now is the client told to send it (Expect: 100-continue). */
function begin(ctx: Ctx): VerifiedRequest {
  if (!ctx.auth) throw s3err('AccessDenied', 'Access Denied: anonymous requests cannot write.');
  if (/^100-continue$/i.test(one(ctx.req, 'expect') ?? '') && !ctx.res.headersSent) ctx.res.writeContinue();
  return ctx.auth;
}

export function bodyOf(ctx: Ctx, maxSize = MAX_OBJECT_SIZE): Readable & { verified: VerifiedChecksum[] } {
  return requestBody(ctx.req, begin(ctx), { maxSize });
}

export function smallBodyOf(ctx: Ctx, opts: { limit?: number; headerChecksums?: boolean } = {}): Promise<Buffer> {
  return readSmallBody(ctx.req, begin(ctx), opts.limit, opts.headerChecksums);
}

/** A stored body with the flexible checksum it was verified against, if any. */
export type StoredBody = IngestedFile & { checksum?: VerifiedChecksum };

/** The response header naming a verified checksum, as S3 echoes it. */
export function checksumHeaders(c: VerifiedChecksum | undefined): Record<string, string> {
  return c ? { [`x-amz-checksum-${c.alg}`]: c.value } : {};
}

/**
 * Stream a write's body into the store. Resolves only when the body ended cleanly and
 * passed every check; the error reported is the body's own (an S3Error) when there is one.
 */
export async function storeBody(ctx: Ctx, bucket: string, maxSize?: number): Promise<StoredBody> {
  const body = bodyOf(ctx, maxSize);
  let bodyErr: Error | undefined;
  body.once('error', (e: Error) => { bodyErr = e; });
  let stored: IngestedFile;
  try {
    stored = await ctx.backend.storeStream(bucket, body);
  } catch (e) {
    throw bodyErr ?? e;
  }
  if (bodyErr) throw bodyErr;
  if (!body.readableEnded) throw new Error('storeStream returned before the body ended');
  return { ...stored, checksum: body.verified[0] };
}

// AWS Signature Version 4 verification for S3: the Authorization header and presigned
// URLs (X-Amz-* query parameters). Independent of node:http so it can be tested
// against reference signatures; the server adapts an IncomingMessage to SigV4Request.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { s3err } from './errors.js';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export const MAX_SKEW_MS = 15 * 60 * 1000;
export const MAX_PRESIGNED_EXPIRES_S = 7 * 24 * 3600;

export interface SigV4Request {
  method: string;
  /** The path exactly as received, still percent-encoded, without the query. */
  rawPath: string;
  /** The query string as received, without the leading `?`. */
  rawQuery: string;
  /** Lowercased header names to every value received, in order (from rawHeaders). */
  headers: Map<string, string[]>;
}

export interface SigV4Options {
  /** The secret for an access key id, or null if there is no such (live) key. */
  lookupSecret(accessKeyId: string): string | null;
  now?: number;
  /** When set, the credential scope must name this region; otherwise any region is accepted. */
  region?: string;
}

export interface VerifiedRequest {
  accessKeyId: string;
  via: 'header' | 'presigned';
  /** x-amz-content-sha256 (hex digest, UNSIGNED-PAYLOAD or a STREAMING-* mode). */
  payloadHash: string;
  /** What aws-chunked decoding needs to verify chunk signatures. */
  signingKey: Buffer;
  seedSignature: string;
  amzDate: string;
  scope: string;
}

export const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');
export const hmac = (key: Uint8Array | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

export function deriveSigningKey(secret: string, date: string, region: string, service: string): Buffer {
  const kDate = hmac(`AWS4${secret}`, date);
  return hmac(hmac(hmac(kDate, region), service), 'aws4_request');
}

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ is %XX (UTF-8). */
export function uriEncode(s: string, keepSlash = false): string {
  const out = encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return keepSlash ? out.replace(/%2F/g, '/') : out;
}

/** Decode a query string into pairs; `+` stays a plus (S3 clients send %20 for spaces). */
export function parseQuery(raw: string): [string, string][] {
  const pairs: [string, string][] = [];
  if (!raw) return pairs;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    try {
      pairs.push([decodeURIComponent(k), decodeURIComponent(v)]);
    } catch {
      throw s3err('InvalidURI', 'Couldn\'t parse the specified URI.');
    }
  }
  return pairs;
}

export function canonicalQuery(pairs: [string, string][], omit?: string): string {
  return pairs
    .filter(([k]) => k !== omit)
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/**
 * Canonical URI candidates: the strict re-encoding of the decoded path (what AWS
 * computes), then the path as sent (what the JS SDK and botocore sign for S3, which
 * is the same string whenever the client encoded strictly). Both denote the same key.
 */
function canonicalPaths(rawPath: string): string[] {
  const raw = rawPath === '' ? '/' : rawPath;
  let strict: string;
  try {
    strict = raw.split('/').map((seg) => uriEncode(decodeURIComponent(seg))).join('/');
  } catch {
    throw s3err('InvalidURI', 'Couldn\'t parse the specified URI.');
  }
  return strict === raw ? [strict] : [strict, raw];
}

function canonicalHeaders(req: SigV4Request, signed: string[]): string {
  let out = '';
  for (const name of signed) {
    const values = req.headers.get(name);
    if (values === undefined) throw s3err('SignatureDoesNotMatch', `The request signature we calculated does not match the signature you provided: signed header ${name} is missing.`);
    out += `${name}:${values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',')}\n`;
  }
  return out;
}

export function stringToSign(amzDate: string, scope: string, canonicalRequest: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
}

/** Constant-time comparison of two hex signatures. */
export function signaturesEqual(expectedHex: string, providedHex: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(providedHex)) return false;
  return timingSafeEqual(Buffer.from(expectedHex, 'hex'), Buffer.from(providedHex, 'hex'));
}

const header1 = (req: SigV4Request, name: string): string | undefined => req.headers.get(name)?.[0];

export type AuthKind = 'header' | 'presigned' | null;

/** Which mechanism a request uses; throws for unsupported ones (SigV2) and for both at once. */
export function authKind(req: SigV4Request, query: [string, string][]): AuthKind {
  const auth = header1(req, 'authorization');
  const q = new Set(query.map(([k]) => k));
  const presigned = q.has('X-Amz-Algorithm') || q.has('X-Amz-Signature') || q.has('X-Amz-Credential');
  if (q.has('AWSAccessKeyId') || (auth !== undefined && auth.startsWith('AWS '))) {
    throw s3err('InvalidRequest', 'Signature Version 2 is not supported; use AWS4-HMAC-SHA256.');
  }
  if (auth !== undefined && presigned) throw s3err('InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.');
  if (auth !== undefined) return 'header';
  return presigned ? 'presigned' : null;
}

/** Parse YYYYMMDD'T'HHMMSS'Z'. */
export function parseAmzDate(s: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return null;
  const t = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number.isNaN(t) ? null : t;
}

export function formatAmzDate(t: number): string {
  return new Date(t).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

interface Parsed {
  accessKeyId: string;
  credDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  amzDate: string;
  time: number;
  payloadHash: string;
}

const PAYLOAD_MODES = new Set([UNSIGNED_PAYLOAD, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER]);

function parseCredential(cred: string, code: string): Pick<Parsed, 'accessKeyId' | 'credDate' | 'region' | 'service'> {
  const parts = cred.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1]!) || !parts[0]) {
    throw s3err(code, 'The credential is malformed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
  }
  return { accessKeyId: parts[0], credDate: parts[1]!, region: parts[2]!, service: parts[3]! };
}

function parseHeaderAuth(req: SigV4Request): Parsed {
  const auth = header1(req, 'authorization')!;
  if (!auth.startsWith(`${ALGORITHM} `)) throw s3err('AuthorizationHeaderMalformed', `Unsupported authorization algorithm; expecting ${ALGORITHM}.`);
  const fields = new Map<string, string>();
  for (const part of auth.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const cred = fields.get('Credential');
  const sh = fields.get('SignedHeaders');
  const sig = fields.get('Signature');
  if (!cred || !sh || !sig) throw s3err('AuthorizationHeaderMalformed', 'The authorization header is malformed; it needs Credential, SignedHeaders and Signature.');
  const xAmzDate = header1(req, 'x-amz-date');
  let time: number | null;
  if (xAmzDate !== undefined) time = parseAmzDate(xAmzDate);
  else {
    const d = header1(req, 'date');
    time = d === undefined ? null : Date.parse(d);
    if (time !== null && Number.isNaN(time)) time = null;
  }
  if (time === null) throw s3err('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header.');
  const payloadHash = header1(req, 'x-amz-content-sha256');
  if (payloadHash === undefined) throw s3err('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256.');
  if (!PAYLOAD_MODES.has(payloadHash) && !/^[0-9a-f]{64}$/.test(payloadHash)) {
    throw s3err('InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a supported STREAMING-* mode, or a SHA-256 hex digest.');
  }
  return {
    ...parseCredential(cred, 'AuthorizationHeaderMalformed'),
    signedHeaders: sh.split(';'),
    signature: sig,
    amzDate: xAmzDate ?? formatAmzDate(time),
    time,
    payloadHash,
  };
}

function parsePresigned(query: [string, string][], now: number): Parsed & { expires: number } {
  const q = new Map<string, string>();
  for (const [k, v] of query) if (!q.has(k)) q.set(k, v);
  const need = (k: string): string => {
    const v = q.get(k);
    if (v === undefined || v === '') throw s3err('AuthorizationQueryParametersError', `Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters (missing ${k}).`);
    return v;
  };
  if (need('X-Amz-Algorithm') !== ALGORITHM) throw s3err('AuthorizationQueryParametersError', `X-Amz-Algorithm only supports "${ALGORITHM}".`);
  const amzDate = need('X-Amz-Date');
  const time = parseAmzDate(amzDate);
  if (time === null) throw s3err('AuthorizationQueryParametersError', 'X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'".');
  const expiresStr = need('X-Amz-Expires');
  if (!/^\d{1,7}$/.test(expiresStr)) throw s3err('AuthorizationQueryParametersError', 'X-Amz-Expires should be a number.');
  const expires = Number(expiresStr);
  if (expires > MAX_PRESIGNED_EXPIRES_S) throw s3err('AuthorizationQueryParametersError', 'X-Amz-Expires must be less than a week (in seconds) that is 604800.');
  if (time - MAX_SKEW_MS > now) throw s3err('AccessDenied', 'Request is not valid yet.');
  if (now > time + expires * 1000) throw s3err('AccessDenied', 'Request has expired.', { 'X-Amz-Expires': expiresStr, Expires: new Date(time + expires * 1000).toISOString() });
  return {
    ...parseCredential(need('X-Amz-Credential'), 'AuthorizationQueryParametersError'),
    signedHeaders: need('X-Amz-SignedHeaders').split(';'),
    signature: need('X-Amz-Signature'),
    amzDate,
    time,
    // Presigned URLs sign UNSIGNED-PAYLOAD unless a hash was hoisted into the query.
    payloadHash: query.find(([k]) => k.toLowerCase() === 'x-amz-content-sha256')?.[1] ?? UNSIGNED_PAYLOAD,
    expires,
  };
}

/**
 * Verify a SigV4-signed request. Throws S3Error (InvalidAccessKeyId,
 * SignatureDoesNotMatch, RequestTimeTooSkewed, AccessDenied for expired URLs, ...).
 * The payload itself is verified later, while it streams (see body.ts / chunked.ts).
 */
export function verifySigV4(req: SigV4Request, query: [string, string][], kind: 'header' | 'presigned', opts: SigV4Options): VerifiedRequest {
  const now = opts.now ?? Date.now();
  const p = kind === 'header' ? parseHeaderAuth(req) : parsePresigned(query, now);
  const malformed = kind === 'header' ? 'AuthorizationHeaderMalformed' : 'AuthorizationQueryParametersError';
  if (p.service !== 's3') throw s3err(malformed, `The credential is scoped to service '${p.service}'; expecting 's3'.`);
  if (opts.region !== undefined && p.region !== opts.region) {
    throw s3err(malformed, `The authorization header is malformed; the region '${p.region}' is wrong; expecting '${opts.region}'.`, { Region: opts.region });
  }
  if (p.credDate !== p.amzDate.slice(0, 8)) throw s3err(malformed, 'Invalid credential date. Date is not the same as X-Amz-Date.');
  if (kind === 'header' && Math.abs(now - p.time) > MAX_SKEW_MS) {
    throw s3err('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', {
      RequestTime: new Date(p.time).toISOString(), ServerTime: new Date(now).toISOString(), MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
    });
  }
  const signed = p.signedHeaders;
  for (let i = 0; i < signed.length; i++) {
    if (!/^[a-z0-9-]+$/.test(signed[i]!) || (i > 0 && signed[i - 1]! >= signed[i]!)) throw s3err(malformed, 'SignedHeaders must be lowercase, sorted and separated by ";".');
  }
  if (!signed.includes('host')) throw s3err(malformed, 'The host header must be signed.');
  // Unsigned x-amz-* headers could change what a signature authorised (a copy source
  // slipped into a presigned PUT, say), so AWS refuses them and so do we.
  for (const name of req.headers.keys()) {
    if (name.startsWith('x-amz-') && !signed.includes(name) && !(kind === 'presigned' && name === 'x-amz-content-sha256')) {
      throw s3err('AccessDenied', `There were headers present in the request which were not signed: ${name}.`);
    }
  }

  const secret = opts.lookupSecret(p.accessKeyId);
  if (secret === null) throw s3err('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: p.accessKeyId });

  const scope = `${p.credDate}/${p.region}/${p.service}/aws4_request`;
  const signingKey = deriveSigningKey(secret, p.credDate, p.region, p.service);
  const cq = canonicalQuery(query, kind === 'presigned' ? 'X-Amz-Signature' : undefined);
  const ch = canonicalHeaders(req, signed);
  let ok = false;
  for (const path of canonicalPaths(req.rawPath)) {
    const creq = `${req.method}\n${path}\n${cq}\n${ch}\n${signed.join(';')}\n${p.payloadHash}`;
    const expected = hmac(signingKey, stringToSign(p.amzDate, scope, creq)).toString('hex');
    if (signaturesEqual(expected, p.signature)) ok = true;
  }
  if (!ok) {
    throw s3err('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', { AWSAccessKeyId: p.accessKeyId });
  }
  return { accessKeyId: p.accessKeyId, via: kind, payloadHash: p.payloadHash, signingKey, seedSignature: p.signature, amzDate: p.amzDate, scope };
}

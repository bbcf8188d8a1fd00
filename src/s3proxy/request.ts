// Per-request state shared by the handlers, and the parsing of what a request
// addresses: bucket (path-style or virtual-host), key, query.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { S3Error, errorXml, s3err, statusHasBody } from './errors.js';
import type { KeyLookup, KeyRecord } from './keys.js';
import { canRead, canWrite } from './keys.js';
import type { GroupCommits } from './group-commit.js';
import type { Actor } from '../repo/protect.js';
import type { VerifiedRequest } from './sigv4.js';
import type { ProxyBackend } from './types.js';

export interface ServerOptions {
  keys: KeyLookup;
  /** Serve reads to unsigned requests (writes still need a key). */
  anonymousRead?: boolean;
  /** Reported by GetBucketLocation / HeadBucket; default us-east-1. */
  region?: string;
  /** Reject signatures scoped to another region than `region` (default: accept any). */
  enforceRegion?: boolean;
  /** Accept `<bucket>.<domain>` Host headers only for this domain (default: any host whose first label is a bucket). */
  virtualHostDomain?: string;
  /** Smallest non-final multipart part (S3: 5 MiB). */
  minPartSize?: number;
  /** In-flight multipart uploads idle for longer than this are dropped (default 24 h). */
  uploadTtlMs?: number;
  /** Clock, for tests of skew and expiry. */
  now?: () => number;
  /**
   * Sees every request first (e.g. the web console's routes); returns true when it
   * answered it, false to let the S3 dispatch handle it.
   */
  intercept?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
  /** dv serve --remote: a cluster job's upload, answered here when it returns true (remote-jobs.ts). */
  jobUploads?: (ctx: Ctx) => Promise<boolean>;
  /** One call per finished request; never given secrets, signatures or query strings. */
  onRequest?: (info: RequestLogInfo) => void;
}

export interface RequestLogInfo {
  requestId: string;
  method: string;
  bucket: string | undefined;
  key: string | undefined;
  status: number;
  accessKeyId: string | null;
  ms: number;
  error?: string;
}

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  backend: ProxyBackend;
  /** Writes to a branch are committed through this (group commit). */
  commits: GroupCommits;
  opts: ServerOptions;
  method: string;
  bucket: string | undefined;
  /** Decoded object key (`<ref>/<path>`), '' when the request addresses the bucket. */
  key: string;
  /** First value of each query parameter. */
  query: Map<string, string>;
  auth: VerifiedRequest | null;
  /** The key the request was signed with; null for anonymous requests. */
  principal: KeyRecord | null;
  started: number;
  status?: number;
  errorCode?: string;
}

export function headerMap(rawHeaders: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const list = m.get(name);
    if (list) list.push(rawHeaders[i + 1]!);
    else m.set(name, [rawHeaders[i + 1]!]);
  }
  return m;
}

export function header(ctx: Ctx, name: string): string | undefined {
  const v = ctx.req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export interface Target {
  rawPath: string;
  rawQuery: string;
  bucket: string | undefined;
  key: string;
}

/** Split the request target; `..`, encoded slashes and NUL are refused before any lookup. */
export function parseTarget(url: string, host: string | undefined, buckets: string[], vhostDomain?: string): Target {
  let target = url;
  if (/^https?:\/\//i.test(target)) target = target.replace(/^https?:\/\/[^/]*/i, '') || '/';
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const rawQuery = q < 0 ? '' : target.slice(q + 1);
  if (!rawPath.startsWith('/')) throw s3err('InvalidURI', 'Couldn\'t parse the specified URI.');
  if (/%2f/i.test(rawPath)) throw s3err('InvalidArgument', 'Encoded slashes (%2F) are not allowed in keys; use a plain "/".');
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw s3err('InvalidURI', 'Couldn\'t parse the specified URI.');
  }
  if (decoded.includes('\0')) throw s3err('InvalidArgument', 'Keys must not contain NUL characters.');

  let t: Target;
  const vhost = virtualHostBucket(host, buckets, vhostDomain);
  const rest = decoded.slice(1);
  const slash = rest.indexOf('/');
  if (vhost !== undefined) t = { rawPath, rawQuery, bucket: vhost, key: rest };
  else if (rest === '') t = { rawPath, rawQuery, bucket: undefined, key: '' };
  else if (slash < 0) t = { rawPath, rawQuery, bucket: rest, key: '' };
  else t = { rawPath, rawQuery, bucket: rest.slice(0, slash), key: rest.slice(slash + 1) };
  // Refused before authentication: a traversal attempt learns nothing about keys.
  if (t.key !== '') validateKey(t.key, false);
  return t;
}

function virtualHostBucket(host: string | undefined, buckets: string[], domain?: string): string | undefined {
  if (!host) return undefined;
  const name = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (isIP(name)) return undefined;
  const dot = name.indexOf('.');
  if (dot <= 0) return undefined;
  const label = name.slice(0, dot);
  if (domain !== undefined && name.slice(dot + 1) !== domain.toLowerCase()) return undefined;
  return buckets.includes(label) ? label : undefined;
}

/** Names reserved for dv's own state: writing them would plant files in .dv or .git on checkout. */
const RESERVED = new Set(['.dv', '.git']);

/**
 * Check a decoded key. Empty segments (`a//b`, `/a`) are allowed: they are escaped
 * on the way into a tree (keypath.ts); a trailing slash is a directory marker.
 */
export function validateKey(key: string, forWrite: boolean): void {
  if (Buffer.byteLength(key) > 1024) throw s3err('KeyTooLongError', 'Your key is too long.');
  if (key.includes('\0')) throw s3err('InvalidArgument', 'Keys must not contain NUL characters.');
  const segs = key.split('/');
  segs.forEach((s, i) => {
    if (s === '..' || s === '.') throw s3err('InvalidArgument', `Invalid key "${key}": "." and ".." segments are not allowed.`);
    if (forWrite && i > 0 && RESERVED.has(s.toLowerCase())) throw s3err('InvalidArgument', `Invalid key "${key}": "${s}" is reserved.`);
  });
}

export function requireRead(ctx: Ctx, ref: string, kind: 'branch' | 'tag' | 'commit'): void {
  if (ctx.principal === null) {
    if (ctx.opts.anonymousRead) return;
    throw s3err('AccessDenied', 'Access Denied');
  }
  if (!canRead(ctx.principal, ref, kind)) {
    const what = kind === 'commit' ? `'${ref}' (versions by commit need a key with --read '*')` : `'${ref}'`;
    throw s3err('AccessDenied', `Access Denied: this key may not read ${what}.`);
  }
}

export function requireWrite(ctx: Ctx, ref: string, kind: 'branch' | 'tag' | 'commit'): void {
  if (kind !== 'branch') {
    throw s3err('MethodNotAllowed', `'${ref}' is a ${kind}, which is immutable; writes go to branches only.`, { Method: ctx.method, ResourceType: kind });
  }
  if (ctx.principal === null) throw s3err('AccessDenied', 'Access Denied: anonymous requests cannot write.');
  if (!canWrite(ctx.principal, ref)) throw s3err('AccessDenied', `Access Denied: this key may not write branch '${ref}'.`);
  const refusal = ctx.backend.writeRefusal?.(ctx.bucket ?? '', ref, actorOf(ctx)!);
  if (refusal) throw s3err('AccessDenied', `Access Denied: ${refusal}.`);
}

/** The signing key as a writer (protected branches, commit audit); null when anonymous. */
export function actorOf(ctx: Ctx): Actor | null {
  return ctx.principal ? { identity: ctx.principal.identity ?? null, key: ctx.principal.id } : null;
}

function baseHeaders(ctx: Ctx): Record<string, string> {
  return { 'x-amz-request-id': ctx.requestId, 'x-amz-id-2': ctx.requestId, server: 'dv' };
}

export function sendXml(ctx: Ctx, status: number, xml: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(xml, 'utf8');
  ctx.status = status;
  ctx.res.writeHead(status, { ...baseHeaders(ctx), 'content-type': 'application/xml', 'content-length': String(body.length), ...headers });
  ctx.res.end(ctx.method === 'HEAD' ? undefined : body);
}

export function sendEmpty(ctx: Ctx, status: number, headers: Record<string, string> = {}): void {
  ctx.status = status;
  ctx.res.writeHead(status, { ...baseHeaders(ctx), ...headers, ...(status === 204 || status === 304 ? {} : { 'content-length': '0' }) });
  ctx.res.end();
}

export function sendError(ctx: Ctx, err: S3Error, resource: string): void {
  ctx.status = err.status;
  ctx.errorCode = err.code;
  const { res } = ctx;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { ...baseHeaders(ctx), ...err.headers };
  // A body we did not read to the end cannot be left on a keep-alive connection.
  if (!ctx.req.complete) headers.connection = 'close';
  if (!statusHasBody(err.status, ctx.method)) {
    res.writeHead(err.status, headers);
    res.end();
    return;
  }
  const body = Buffer.from(errorXml(err, resource, ctx.requestId), 'utf8');
  res.writeHead(err.status, { ...headers, 'content-type': 'application/xml', 'content-length': String(body.length) });
  res.end(body);
}

export function resourceOf(ctx: Ctx): string {
  if (ctx.bucket === undefined) return '/';
  return ctx.key ? `/${ctx.bucket}/${ctx.key}` : `/${ctx.bucket}`;
}

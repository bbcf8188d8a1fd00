// `dv serve`: an S3-compatible HTTP endpoint over a ProxyBackend.
//
// Addressing: bucket = repository, key = `<ref>/<path>` (path-style `/bucket/key`,
// or virtual-host style `bucket.host/key`). Every response carries x-amz-request-id;
// failures are S3 XML errors. Secrets, signatures and query strings are never logged.
import { randomBytes } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { CorruptionError, DvError } from '../store/errors.js';
import { smallBodyOf } from './body.js';
import { S3Error, errorXml, s3err } from './errors.js';
import { bucketLocation, getObject, headBucket, listBuckets, listObjects } from './handlers/read.js';
import { deleteObject, deleteObjects, putObject } from './handlers/write.js';
import {
  abortUpload, completeUpload, createUpload, listParts, listUploads, MIN_PART_SIZE, uploadPart, Uploads,
} from './handlers/multipart.js';
import { GroupCommits } from './group-commit.js';
import { type Ctx, type ServerOptions, headerMap, parseTarget, resourceOf, sendError, sendXml } from './request.js';
import { sessionProblem } from '../repo/job-keys.js';
import { authKind, parseQuery, verifySigV4 } from './sigv4.js';
import type { ProxyBackend } from './types.js';
import { XML_DECL } from './xml.js';

export type { ServerOptions, RequestLogInfo } from './request.js';

export const DEFAULT_HOST = '127.0.0.1';

const newRequestId = (): string => randomBytes(8).toString('hex').toUpperCase();

/** Sub-resources we do not implement: answered 501 rather than misread as a plain GET/PUT. */
const UNSUPPORTED = [
  'acl', 'policy', 'cors', 'lifecycle', 'tagging', 'website', 'logging', 'notification', 'replication',
  'encryption', 'object-lock', 'legal-hold', 'retention', 'torrent', 'restore', 'select', 'attributes',
  'accelerate', 'analytics', 'inventory', 'metrics', 'ownershipControls', 'publicAccessBlock', 'requestPayment',
  'intelligent-tiering', 'policyStatus', 'versions',
];

function authenticate(ctx: Ctx, rawPath: string, rawQuery: string, pairs: [string, string][]): void {
  const sreq = { method: ctx.method, rawPath, rawQuery, headers: headerMap(ctx.req.rawHeaders) };
  const kind = authKind(sreq, pairs);
  if (kind === null) {
    if (!ctx.opts.anonymousRead) throw s3err('AccessDenied', 'Access Denied: requests must be signed with a dv access key (see dv keys create).');
    return;
  }
  const { keys, region, enforceRegion, now } = ctx.opts;
  const verified = verifySigV4(sreq, pairs, kind, {
    lookupSecret: (id) => keys.lookup(id)?.secret ?? null,
    now: now?.(),
    region: enforceRegion ? (region ?? 'us-east-1') : undefined,
  });
  ctx.auth = verified;
  ctx.principal = keys.lookup(verified.accessKeyId);
  if (!ctx.principal) throw s3err('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  // Temporary (job) keys: the session token is signed like any x-amz-* header or query parameter.
  const token = kind === 'header' ? sreq.headers.get('x-amz-security-token')?.[0] : pairs.find(([k]) => k === 'X-Amz-Security-Token')?.[1];
  const problem = sessionProblem(ctx.principal, token, now?.());
  if (problem === 'expired') throw s3err('ExpiredToken', 'The provided token has expired.');
  if (problem === 'missing') throw s3err('MissingSecurityHeader', 'This access key is temporary: the request needs its x-amz-security-token.');
  if (problem) throw s3err('InvalidToken', 'The provided token is malformed or otherwise invalid.');
}

/** What lives as long as the server: in-flight multipart uploads and the commit queues. */
interface ServerState {
  uploads: Uploads;
  commits: GroupCommits;
}

async function route(ctx: Ctx, { uploads }: ServerState): Promise<void> {
  const { method, query } = ctx;
  const has = (k: string): boolean => query.has(k);
  if (ctx.bucket === undefined) {
    if (method === 'GET') return listBuckets(ctx);
    throw s3err('MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: method, ResourceType: 'SERVICE' });
  }
  if (!ctx.backend.listRepos().some((r) => r.name === ctx.bucket)) {
    if (method === 'PUT' && ctx.key === '') throw s3err('NotImplemented', 'dv serve cannot create buckets: each bucket is a dv repository.');
    throw s3err('NoSuchBucket', 'The specified bucket does not exist', { BucketName: ctx.bucket });
  }
  if (method !== 'GET' && method !== 'HEAD' && ctx.principal === null) {
    throw s3err('AccessDenied', 'Access Denied: anonymous requests cannot write.');
  }
  const sub = UNSUPPORTED.find(has);
  if (sub !== undefined) throw s3err('NotImplemented', `The ${sub} sub-resource is not implemented by dv serve.`);
  // x-amz-checksum-* on CompleteMultipartUpload describe the object, not this XML.
  const xmlBody = async (): Promise<string> => (await smallBodyOf(ctx, { headerChecksums: false })).toString('utf8');
  const minPart = ctx.opts.minPartSize ?? MIN_PART_SIZE;

  if (ctx.key === '') {
    switch (method) {
      case 'HEAD': return headBucket(ctx);
      case 'GET':
        if (has('location')) return bucketLocation(ctx);
        if (has('uploads')) return listUploads(ctx, uploads);
        if (has('versioning')) return sendXml(ctx, 200, `${XML_DECL}<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>`);
        return listObjects(ctx, query.get('list-type') === '2');
      case 'POST':
        if (has('delete')) return deleteObjects(ctx);
        break;
      case 'PUT':
        // A sub-resource (versioning, ...) is configuration dv does not have; a plain PUT creates.
        if (query.size > 0) throw s3err('NotImplemented', `Bucket configuration (${[...query.keys()].join(', ')}) is not implemented by dv serve.`);
        throw s3err('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', { BucketName: ctx.bucket });
      default:
        break;
    }
    throw s3err('MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: method, ResourceType: 'BUCKET' });
  }
  if (ctx.opts.jobUploads && await ctx.opts.jobUploads(ctx)) return;
  switch (method) {
    case 'GET': return has('uploadId') ? listParts(ctx, uploads) : getObject(ctx, false);
    case 'HEAD': return getObject(ctx, true);
    case 'PUT': return has('uploadId') || has('partNumber') ? uploadPart(ctx, uploads) : putObject(ctx);
    case 'POST':
      if (has('uploads')) return createUpload(ctx, uploads);
      if (has('uploadId')) return completeUpload(ctx, uploads, xmlBody, minPart);
      break;
    case 'DELETE': return has('uploadId') ? abortUpload(ctx, uploads) : deleteObject(ctx);
    default: break;
  }
  throw s3err('MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: method, ResourceType: 'OBJECT' });
}

function toS3Error(e: unknown): S3Error {
  if (e instanceof S3Error) return e;
  if (e instanceof DvError && !(e instanceof CorruptionError)) return s3err('InvalidRequest', e.message);
  return s3err('InternalError', 'We encountered an internal error. Please try again.');
}

async function handle(backend: ProxyBackend, opts: ServerOptions, state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (opts.intercept && await opts.intercept(req, res)) return;
  const ctx: Ctx = {
    req, res, backend, commits: state.commits, opts, requestId: newRequestId(), method: req.method ?? 'GET', bucket: undefined, key: '',
    query: new Map(), auth: null, principal: null, started: Date.now(),
  };
  res.once('close', () => {
    opts.onRequest?.({
      requestId: ctx.requestId, method: ctx.method, bucket: ctx.bucket, key: ctx.key || undefined,
      status: ctx.status ?? res.statusCode, accessKeyId: ctx.principal?.id ?? null, ms: Date.now() - ctx.started,
      ...(ctx.errorCode ? { error: ctx.errorCode } : {}),
    });
  });
  try {
    const t = parseTarget(req.url ?? '/', req.headers.host, backend.listRepos().map((r) => r.name), opts.virtualHostDomain);
    ctx.bucket = t.bucket;
    ctx.key = t.key;
    const pairs = parseQuery(t.rawQuery);
    for (const [k, v] of pairs) if (!ctx.query.has(k)) ctx.query.set(k, v);
    const keyId = ctx.opts.keys.prefetch && /Credential=([A-Z0-9]+)(?:\/|%2F)/i.exec(`${req.headers.authorization ?? ''} ${t.rawQuery}`)?.[1];
    if (keyId) await ctx.opts.keys.prefetch!(keyId);
    authenticate(ctx, t.rawPath, t.rawQuery, pairs);
    await route(ctx, state);
  } catch (e) {
    sendError(ctx, toS3Error(e), resourceOf(ctx));
  }
}

/** Gets the first look at each request (the web console, under /ui/); true = it answered. */
export type RequestHook = NonNullable<ServerOptions['intercept']>;

/** The HTTP server, not yet listening; see startS3Server for the default 127.0.0.1 binding. */
export function createS3Server(backend: ProxyBackend, opts: ServerOptions): Server {
  const state: ServerState = { uploads: new Uploads(opts.uploadTtlMs), commits: new GroupCommits(backend) };
  // requestTimeout 0: a multi-GiB upload may legitimately take longer than Node's
  // default 5 minutes; idle sockets are still closed by the socket timeout below.
  const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 });
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(backend, opts, state, req, res).catch(() => res.destroy());
  };
  server.on('request', onRequest);
  // With a listener, Node leaves "100 Continue" to us: it is sent only once the
  // request passed authentication and routing and its body is actually wanted.
  server.on('checkContinue', onRequest);
  // Other expectations are ignored, as S3 does (Node would answer 417 with no body).
  server.on('checkExpectation', onRequest);
  server.setTimeout(5 * 60_000, (socket: Socket) => socket.destroy());
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Malformed or oversized request heads never reach a handler; answer and hang up.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? 431 : 400;
    const e = tooLarge
      ? s3err('RequestHeaderSectionTooLarge', 'Your request header section exceeds the maximum allowed size.')
      : s3err('InvalidRequest', 'The request could not be parsed as HTTP/1.1.');
    const id = newRequestId();
    const body = errorXml(e, '/', id);
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: application/xml\r\n` +
      `x-amz-request-id: ${id}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
  return server;
}

export interface RunningS3Server {
  server: Server;
  /** e.g. http://127.0.0.1:9000 */
  url: string;
  close(): Promise<void>;
}

/** Create and listen; binds to 127.0.0.1 unless `host` says otherwise. */
export async function startS3Server(
  backend: ProxyBackend,
  opts: ServerOptions & { host?: string; port?: number },
): Promise<RunningS3Server> {
  const server = createS3Server(backend, opts);
  const host = opts.host ?? DEFAULT_HOST;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${shownHost}:${addr.port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

// The S3 remote: any S3-compatible server (AWS, MinIO, Ceph RGW, R2, s3rver).
import { open } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type { Backend, ObjectInfo, PutOptions } from './backend.js';
import { DvError } from './errors.js';

export interface S3BackendOptions {
  /** e.g. http://127.0.0.1:9000; implies path-style addressing. Default: AWS. */
  endpoint?: string;
  /** Default: the AWS chain (AWS_REGION, profile), else us-east-1. */
  region?: string;
  /** Parallel requests callers should run (sizes the socket pool). Default 8. */
  concurrency?: number;
  /** Retries of a transient failure after the first attempt. Default 4. */
  retries?: number;
  /** Default: the AWS chain (env vars, profiles, SSO, IMDS...). */
  credentials?: S3ClientConfig['credentials'];
  /** First backoff step in ms; doubles per retry, with jitter. Default 200. */
  retryBaseMs?: number;
  /** ListObjectsV2 MaxKeys (servers cap it at 1000). */
  pageSize?: number;
  onRetry?: (event: { op: string; key: string; attempt: number; delayMs: number; reason: string }) => void;
}

/** Splits `s3://bucket[/prefix]`; the prefix has no leading or trailing '/'. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/\s]+)(?:\/(.*))?$/.exec(url);
  if (!m) throw new DvError(`not an S3 URL: '${url}' (expected s3://bucket[/prefix])`);
  return { bucket: m[1]!, prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

type ErrLike = {
  name?: string; code?: unknown; message?: string; path?: string; hostname?: string;
  $metadata?: { httpStatusCode?: number }; $retryable?: unknown; errors?: ErrLike[];
};

// Node puts the errno code on the error itself, or (happy-eyeballs connect to
// several addresses) on the members of an AggregateError.
function netCode(e: ErrLike): string | undefined {
  if (typeof e.code === 'string' && /^(E[A-Z]+|ERR_[A-Z_]+|UND_ERR_[A-Z_]+)$/.test(e.code)) return e.code;
  return e.errors?.length ? netCode(e.errors[0]!) : undefined;
}
const statusOf = (e: ErrLike) => e.$metadata?.httpStatusCode;
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET']);
// ECONNREFUSED and ENOTFOUND are not retried: they almost always mean a wrong
// endpoint, and backing off only delays the message that says so.
const TRANSIENT_NET = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN',
  'EHOSTUNREACH', 'ENETUNREACH', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']);
// 409 ConditionalRequestConflict is AWS's "two conditional writes raced, retry".
const TRANSIENT_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException',
  'RequestTimeout', 'RequestTimeoutException', 'TimeoutError', 'InternalError', 'ServiceUnavailable',
  'ConditionalRequestConflict']);

function isTransient(e: ErrLike): boolean {
  const status = statusOf(e);
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  const code = netCode(e);
  if (code) return TRANSIENT_NET.has(code);
  return TRANSIENT_NAMES.has(e.name ?? '') || Boolean(e.$retryable);
}
const oneLine = (s: string | undefined) => (s ?? '').split('\n')[0]!.trim();
const silentLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Sdk = typeof import('@aws-sdk/client-s3');
// Loaded on the first request: about a hundred milliseconds of module loading that a
// command which never talks to S3 (a local dv run, status) should not pay.
let sdkModule: Promise<Sdk> | null = null;
const loadSdk = (): Promise<Sdk> => (sdkModule ??= import('@aws-sdk/client-s3'));

// One probe per server and bucket per process: the answer cannot change while we run.
const conditionalWriteProbes = new Map<string, Promise<boolean>>();

export class S3Backend implements Backend {
  readonly url: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly endpoint: string | undefined;
  readonly concurrency: number;
  private readonly clientConfig: S3ClientConfig;
  private client: S3Client | null = null;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  private readonly pageSize: number | undefined;
  private readonly onRetry: S3BackendOptions['onRetry'];

  constructor(url: string, opts: S3BackendOptions = {}) {
    ({ bucket: this.bucket, prefix: this.prefix } = parseS3Url(url));
    this.url = `s3://${this.bucket}${this.prefix ? '/' + this.prefix : ''}`;
    if (opts.endpoint !== undefined && !/^https?:\/\/[^/]/.test(opts.endpoint)) {
      throw new DvError(`S3 endpoint must be an http:// or https:// URL, got '${opts.endpoint}'`);
    }
    this.endpoint = opts.endpoint?.replace(/\/+$/, '');
    this.concurrency = opts.concurrency ?? 8;
    this.retries = opts.retries ?? 4;
    this.retryBaseMs = opts.retryBaseMs ?? 200;
    this.pageSize = opts.pageSize;
    this.onRetry = opts.onRetry;
    // The SDK warns on stderr at every start under Node < 22; that would break
    // the CLI's "errors are one line on stderr" contract. Users can still opt in.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const sockets = Math.max(this.concurrency * 2, 16);
    this.clientConfig = {
      endpoint: this.endpoint,
      forcePathStyle: this.endpoint !== undefined,
      region: opts.region ?? defaultRegion,
      credentials: opts.credentials,
      followRegionRedirects: true,
      // Nothing below the CLI prints; with its default logger the SDK writes
      // warnings (e.g. on a failed streaming upload) straight to the console.
      logger: silentLogger,
      // Ours is the only retry policy: the SDK never retries a streaming body
      // (it cannot replay a consumed file stream), and one policy for every
      // request keeps attempt counts and backoff predictable.
      maxAttempts: 1,
      // Since v3.729 (Jan 2025) the SDK frames streamed bodies as aws-chunked
      // with a CRC32 trailer; servers that do not decode it (s3rver does not;
      // older MinIO/Ceph reject it) would store the framing as object bytes.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: 10_000,
        socketTimeout: 120_000,
        httpAgent: { keepAlive: true, maxSockets: sockets },
        httpsAgent: { keepAlive: true, maxSockets: sockets },
      },
    };
  }

  /** The SDK's client and commands, made on first use. */
  private async sdk(): Promise<{ c: S3Client; m: Sdk }> {
    const m = await loadSdk();
    this.client ??= new m.S3Client(this.clientConfig);
    return { c: this.client, m };
  }

  /** Frees the sockets; the backend is unusable afterwards. */
  close(): void {
    this.client?.destroy();
  }

  private full(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private where(e?: ErrLike): string {
    return this.endpoint ?? (e?.hostname ? `https://${e.hostname}` : 'AWS S3');
  }

  async *list(prefix: string): AsyncGenerator<ObjectInfo> {
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    let token: string | undefined;
    do {
      const page = await this.attempt('list', prefix, async () => {
        const { c, m } = await this.sdk();
        return c.send(new m.ListObjectsV2Command({
          Bucket: this.bucket, Prefix: this.full(prefix) || undefined, ContinuationToken: token, MaxKeys: this.pageSize,
        }));
      });
      for (const o of page.Contents ?? []) {
        yield { key: o.Key!.slice(strip), size: o.Size ?? 0, etag: o.ETag, lastModified: o.LastModified };
      }
      if (page.IsTruncated && !page.NextContinuationToken) {
        throw new DvError(`S3 list of ${this.url}/${prefix} is truncated but has no continuation token`);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  // A missing bucket also answers HEAD with a bare 404 (no body to say which),
  // so head() returns null there; get/put/list report NoSuchBucket.
  async head(key: string): Promise<ObjectInfo | null> {
    return this.attempt('head', key, async () => {
      const { c, m } = await this.sdk();
      const r = await orNull(c.send(new m.HeadObjectCommand({ Bucket: this.bucket, Key: this.full(key) })));
      return r && { key, size: r.ContentLength ?? 0, etag: r.ETag, lastModified: r.LastModified };
    });
  }

  async get(key: string): Promise<{ body: Buffer; etag?: string } | null> {
    // The body is read inside the attempt so that a reset mid-body is retried too.
    return this.attempt('get', key, async () => {
      const { c, m } = await this.sdk();
      const r = await orNull(c.send(new m.GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) })));
      return r && { body: toBuffer(await r.Body!.transformToByteArray()), etag: r.ETag };
    });
  }

  async getRange(key: string, start: number, length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    const buf = await this.attempt('get', key, async () => {
      const { c, m } = await this.sdk();
      const r = await c.send(new m.GetObjectCommand({
        Bucket: this.bucket, Key: this.full(key), Range: `bytes=${start}-${start + length - 1}`,
      }));
      const body = toBuffer(await r.Body!.transformToByteArray());
      // A server that ignores Range sends the whole object with 200.
      return r.ContentRange === undefined && body.length > length ? body.subarray(start, start + length) : body;
    });
    if (buf.length !== length) {
      throw new DvError(`short read from ${this.url}/${key}: wanted ${length} bytes at offset ${start}, got ${buf.length}`);
    }
    return buf;
  }

  async getStream(key: string): Promise<Readable> {
    // Only the request is retried; an error mid-stream reaches the consumer.
    const r = await this.attempt('get', key, async () => {
      const { c, m } = await this.sdk();
      return c.send(new m.GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
    });
    return r.Body as Readable;
  }

  async put(key: string, body: Buffer | { path: string; size: number }, opts: PutOptions = {}): Promise<{ etag?: string }> {
    return this.attempt('put', key, async () => {
      const { c, m } = await this.sdk();
      const cmd = (Body: Buffer | Readable, ContentLength: number) => new m.PutObjectCommand({
        Bucket: this.bucket, Key: this.full(key), Body, ContentLength,
        ContentType: opts.contentType, IfMatch: opts.ifMatch, IfNoneMatch: opts.ifNoneMatch,
      });
      if (Buffer.isBuffer(body)) return { etag: (await c.send(cmd(body, body.length))).ETag };
      // Opened per attempt (a failed attempt has consumed the last stream), and
      // before sending, so a missing file fails fast instead of inside the SDK.
      const fh = await open(body.path, 'r');
      const size = (await fh.stat().catch(async (e: unknown) => { await fh.close(); throw e; })).size;
      if (size !== body.size) {
        await fh.close();
        throw new DvError(`${body.path} is ${size} bytes, expected ${body.size}: it changed during the upload`);
      }
      const stream = fh.createReadStream();
      // The SDK does not watch its body stream for errors: a read error would
      // be uncaught and the request would hang. Abort it and report the cause.
      const abort = new AbortController();
      let readError: unknown;
      stream.once('error', (e) => { readError = e; abort.abort(); });
      try {
        return { etag: (await c.send(cmd(stream, size), { abortSignal: abort.signal })).ETag };
      } catch (e) {
        throw readError ?? e;
      } finally {
        stream.destroy();
      }
    });
  }

  async delete(key: string): Promise<void> {
    await this.attempt('delete', key, async () => {
      const { c, m } = await this.sdk();
      return orNull(c.send(new m.DeleteObjectCommand({ Bucket: this.bucket, Key: this.full(key) })));
    });
  }

  /**
   * Whether the server enforces If-None-Match: * and If-Match on PutObject
   * (both, since refs need create-if-absent and compare-and-swap). AWS S3 does
   * since late 2024, as do current MinIO and R2. s3rver 3.7.1 does not: its
   * putObject ignores both headers (only GET looks at If-None-Match, for 304),
   * so this returns false there and the refs layer must fall back (e.g. to a
   * lock object plus read-after-write check).
   */
  detectConditionalWrites(): Promise<boolean> {
    const id = `${this.endpoint ?? 'aws'}|${this.bucket}`;
    let probe = conditionalWriteProbes.get(id);
    if (!probe) {
      probe = this.probeConditionalWrites();
      conditionalWriteProbes.set(id, probe);
      probe.catch(() => conditionalWriteProbes.delete(id)); // an outage is not an answer
    }
    return probe;
  }

  private async probeConditionalWrites(): Promise<boolean> {
    const key = `.dv-probe/${randomUUID()}`;
    const body = Buffer.from('dv conditional-write probe\n');
    const refused = (p: Promise<unknown>) => p.then(() => false, (e: unknown) => {
      if (e instanceof DvError && e.code === 'PRECONDITION') return true;
      throw e;
    });
    try {
      await this.put(key, body, { ifNoneMatch: '*' });
      if (!(await refused(this.put(key, body, { ifNoneMatch: '*' })))) return false;
      return await refused(this.put(key, body, { ifMatch: '"00000000000000000000000000000000"' }));
    } finally {
      await this.delete(key).catch(() => undefined);
    }
  }

  // Note for callers of conditional puts: if an attempt's response is lost
  // (reset) after the server applied it, the retry can report PRECONDITION for
  // our own write; re-read the object before treating that as a lost race.
  private async attempt<R>(op: string, key: string, fn: () => Promise<R>): Promise<R> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const e = err as ErrLike;
        if (err instanceof DvError || attempt >= this.retries || !isTransient(e)) {
          throw this.mapError(e, op, key, attempt + 1);
        }
        // Exponential backoff with "equal jitter": never below half the step,
        // so retries of many parallel requests spread out but still back off.
        const step = Math.min(this.retryBaseMs * 2 ** attempt, 20_000);
        const delayMs = Math.round(step / 2 + Math.random() * (step / 2));
        this.onRetry?.({ op, key, attempt: attempt + 1, delayMs, reason: netCode(e) ?? e.name ?? 'error' });
        await sleep(delayMs);
      }
    }
  }

  private mapError(e: ErrLike, op: string, key: string, attempts: number): Error {
    if (e instanceof DvError) return e;
    const loc = `${this.url}/${key}`;
    const name = e.name ?? 'Error';
    const status = statusOf(e);
    const code = netCode(e);
    const after = attempts > 1 ? ` (after ${attempts} attempts)` : '';
    if (code && e.path && !status) return new DvError(`cannot read ${e.path}: ${code}`);
    if ((code && UNREACHABLE.has(code)) || name === 'TimeoutError') {
      return new DvError(`cannot reach S3 endpoint ${this.where(e)}: ${code ?? 'timed out'}${after}`);
    }
    if (name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch') {
      return new DvError(`S3 rejected the credentials for ${this.url} at ${this.where()} (${name}); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE`);
    }
    if (name === 'CredentialsProviderError') {
      return new DvError(`no AWS credentials found for ${this.url}: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE`);
    }
    if (name === 'NoSuchBucket') return new DvError(`bucket '${this.bucket}' does not exist at ${this.where()}`);
    if (name === 'PreconditionFailed' || status === 412) {
      return new DvError(`precondition failed writing ${loc}: it was created or changed concurrently`, 1, 'PRECONDITION');
    }
    if (name === 'AccessDenied' || status === 403) {
      return new DvError(`S3 denied ${op} of ${loc} at ${this.where()} (${name})`);
    }
    if (name === 'NoSuchKey' || name === 'NotFound') return new DvError(`object ${loc} does not exist`);
    const detail = oneLine(e.message);
    return new DvError(`S3 ${op} of ${loc} failed: ${name}${status ? ` (HTTP ${status})` : ''}${detail && detail !== name ? `: ${detail}` : ''}${after}`);
  }
}

function orNull<R>(p: Promise<R>): Promise<R | null> {
  return p.catch((e: ErrLike) => {
    if (e.name === 'NoSuchKey' || e.name === 'NotFound' || (statusOf(e) === 404 && e.name !== 'NoSuchBucket')) return null;
    throw e;
  });
}

function toBuffer(a: Uint8Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

// The SDK's region chain (AWS_REGION, the profile, IMDS) throws when it finds
// nothing; S3-compatible servers rarely care, so fall back to us-east-1.
let regionPromise: Promise<string> | undefined;
function defaultRegion(): Promise<string> {
  regionPromise ??= (async () => {
    const probe = new (await loadSdk()).S3Client({});
    try {
      return await probe.config.region();
    } catch {
      return 'us-east-1';
    } finally {
      probe.destroy();
    }
  })();
  return regionPromise;
}

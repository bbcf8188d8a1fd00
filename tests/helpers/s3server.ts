// A real S3-compatible server (s3rver) on a loopback port for tests.
//
// What s3rver 3.7.1 does and does not check (read from its source):
// - SigV4: only the access key id is looked up (unknown id -> InvalidAccessKeyId);
//   the signature itself is never verified, so a wrong secret is accepted.
// - PutObject ignores If-Match / If-None-Match.
// - It does not decode aws-chunked bodies: an SDK client left at the default
//   requestChecksumCalculation ('WHEN_SUPPORTED') gets the chunk framing and
//   CRC32 trailer stored as object bytes. Use 'WHEN_REQUIRED' (S3Backend does).
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer: Server;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;
// s3rver ships no types; a typed require keeps that contained here.
const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as S3rverCtor;

// s3rver encrypts ListObjectsV2 continuation tokens with single DES, which
// OpenSSL 3 (Node >= 17) only has in its legacy provider: every truncated
// listing then fails with 500 InternalError ("digital envelope routines::
// unsupported"). 3DES-EDE with the key repeated three times is DES itself, so
// mapping 'des' onto 'des-ede3-cbc' gives byte-identical tokens. Only the
// name 'des' is touched, which nothing in dv uses. (Alternative: run the test
// process with --openssl-legacy-provider.)
function enableSingleDes(): void {
  const crypto = require('node:crypto') as typeof import('node:crypto') & { __dvDesShim?: true };
  if (crypto.__dvDesShim) return;
  crypto.__dvDesShim = true;
  type Fn = (alg: string, key: Buffer, iv: Buffer | null, opts?: unknown) => unknown;
  const wrap = (orig: Fn): Fn => (alg, key, iv, opts) =>
    alg.toLowerCase() === 'des' && key.length === 8
      ? orig('des-ede3-cbc', Buffer.concat([key, key, key]), iv, opts)
      : orig(alg, key, iv, opts);
  const c = crypto as unknown as Record<'createCipheriv' | 'createDecipheriv', Fn>;
  c.createCipheriv = wrap(c.createCipheriv.bind(crypto));
  c.createDecipheriv = wrap(c.createDecipheriv.bind(crypto));
}

/** Requests seen at the server, by HTTP method. */
export class RequestLog {
  private counts = new Map<string, number>();
  /** The most recent requests (method and path), for assertion messages. */
  readonly recent: string[] = [];

  record(req: IncomingMessage): void {
    const method = req.method ?? 'UNKNOWN';
    this.counts.set(method, (this.counts.get(method) ?? 0) + 1);
    this.recent.push(`${method} ${req.url}`);
    if (this.recent.length > 200) this.recent.shift();
  }
  count(method: string): number {
    return this.counts.get(method.toUpperCase()) ?? 0;
  }
  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
  /** e.g. { GET: 3, PUT: 1 } */
  byMethod(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }
  reset(): void {
    this.counts.clear();
    this.recent.length = 0;
  }
}

export interface S3TestServer {
  /** e.g. http://127.0.0.1:41234 */
  endpoint: string;
  bucket: string;
  requests: RequestLog;
  /** The keys s3rver accepts. Child processes: env AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Env for a child `dv` process talking to this server. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startS3Server(opts: { bucket?: string } = {}): Promise<S3TestServer> {
  enableSingleDes();
  const bucket = opts.bucket ?? 'dv-test';
  const directory = await mkdtemp(join(tmpdir(), 'dv-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    // Buckets only by path (also what MinIO needs); never guess from Host.
    vhostBuckets: false,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  const requests = new RequestLog();
  // A second 'request' listener sees every request s3rver's Koa handler sees.
  server.httpServer.on('request', (req: IncomingMessage) => requests.record(req));
  const endpoint = `http://127.0.0.1:${address.port}`;
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  let stopped = false;
  return {
    endpoint,
    bucket,
    requests,
    credentials,
    env: {
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // close() waits for keep-alive sockets; clients may still hold some.
      server.httpServer.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

// Shared setup for the s3proxy HTTP tests: a proxy on a loopback port over the
// in-memory test double, a real key store in a temp dir, and SDK clients.
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client, type S3ServiceException } from '@aws-sdk/client-s3';
import { KeyStore, type KeyRecord } from '../../src/s3proxy/keys.js';
import { startS3Server, type RunningS3Server, type ServerOptions } from '../../src/s3proxy/server.js';
import { MemoryBackend } from './memory-backend.js';

export interface Proxy {
  url: string;
  port: number;
  backend: MemoryBackend;
  keys: KeyStore;
  admin: KeyRecord;
  running: RunningS3Server;
  client(key?: { id: string; secret: string }, extra?: Record<string, unknown>): S3Client;
  stop(): Promise<void>;
}

export async function startProxy(opts: Partial<ServerOptions> = {}, backend = new MemoryBackend()): Promise<Proxy> {
  const dir = mkdtempSync(join(tmpdir(), 'dv-s3proxy-'));
  const keys = new KeyStore(join(dir, 'keys.json'));
  const admin = keys.create({ read: ['*'], write: ['*'] });
  const running = await startS3Server(backend, { keys, ...opts });
  const port = Number(new URL(running.url).port);
  const clients: S3Client[] = [];
  return {
    url: running.url,
    port,
    backend,
    keys,
    admin,
    running,
    client(key = admin, extra = {}) {
      const c = new S3Client({
        endpoint: running.url,
        forcePathStyle: true,
        region: 'us-east-1',
        credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
        maxAttempts: 1,
        ...extra,
      });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.destroy();
      await running.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A hand-made HTTP request, for what SDKs refuse to send (traversal, odd headers). */
export function raw(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export function errorCode(body: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
}

export async function bodyText(b: { transformToString(): Promise<string> } | undefined): Promise<string> {
  return b ? b.transformToString() : '';
}

/** The S3 error `fn` fails with; fails the test when it succeeds. */
export async function s3error(fn: () => Promise<unknown>): Promise<S3ServiceException> {
  try {
    await fn();
  } catch (e) {
    return e as S3ServiceException;
  }
  throw new Error('expected an S3 error');
}

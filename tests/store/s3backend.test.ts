import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { S3Backend, type S3BackendOptions } from '../../src/store/s3backend.js';
import { DvError } from '../../src/store/errors.js';
import { pool } from '../../src/store/pool.js';
import { startS3Server, type S3TestServer } from '../helpers/s3server.js';
import { dvJson, dvOk } from '../helpers/cli.js';
import { startServe, stopServe, type Key } from '../helpers/serve.js';

let s3: S3TestServer;
let tmp: string;
const opened: S3Backend[] = [];
const closers: (() => Promise<void>)[] = [];

function backend(url = `s3://${s3.bucket}/repo`, o: S3BackendOptions = {}): S3Backend {
  const b = new S3Backend(url, { endpoint: s3.endpoint, credentials: s3.credentials, region: 'us-east-1', retryBaseMs: 5, ...o });
  opened.push(b);
  return b;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<DvError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(DvError);
  expect((err as Error).message).not.toContain('\n');
  return err as DvError;
}

type Verdict = { status: number; code: string } | 'reset' | 'forward';

/** A loopback proxy in front of s3rver whose `decide` can fail or answer requests. */
async function startProxy(decide: (req: http.IncomingMessage, body: Buffer, n: number) => Verdict) {
  const target = new URL(s3.endpoint);
  let seen = 0;
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const verdict = decide(req, body, ++seen);
    if (verdict === 'reset') return req.socket.destroy();
    if (verdict !== 'forward') {
      const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${verdict.code}</Code><Message>injected</Message></Error>`;
      res.writeHead(verdict.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
      return res.end(req.method === 'HEAD' ? undefined : xml);
    }
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    up.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { endpoint, get seen() { return seen; } };
}

beforeAll(async () => {
  s3 = await startS3Server();
  tmp = await mkdtemp(join(tmpdir(), 'dv-s3test-'));
});

afterAll(async () => {
  for (const b of opened) b.close();
  for (const c of closers) await c();
  await s3?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('S3Backend against s3rver', () => {
  it('puts, gets, heads, reads ranges and deletes under the prefix', async () => {
    const b = backend();
    expect(b.url).toBe(`s3://${s3.bucket}/repo`);
    const data = Buffer.from('hello, ranged world');
    const { etag } = await b.put('a/b.txt', data, { contentType: 'text/plain' });
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);

    const got = await b.get('a/b.txt');
    expect(got?.body.equals(data)).toBe(true);
    expect(got?.etag).toBe(etag);
    expect(await b.head('a/b.txt')).toMatchObject({ key: 'a/b.txt', size: data.length, etag });
    expect((await b.getRange('a/b.txt', 7, 6)).toString()).toBe('ranged');
    expect((await b.getRange('a/b.txt', 0, 0)).length).toBe(0);
    expect(await text(await b.getStream('a/b.txt'))).toBe(data.toString());

    // The prefix is a real key prefix in the bucket.
    const root = backend(`s3://${s3.bucket}`);
    expect((await root.head('repo/a/b.txt'))?.size).toBe(data.length);

    await b.delete('a/b.txt');
    expect(await b.get('a/b.txt')).toBeNull();
    expect(await b.head('a/b.txt')).toBeNull();
    await b.delete('a/b.txt'); // deleting twice is fine
  });

  it('reports missing objects and short ranges clearly', async () => {
    const b = backend();
    expect((await rejection(b.getRange('nope', 0, 4))).message).toMatch(/does not exist/);
    await b.put('short', Buffer.from('abc'));
    expect((await rejection(b.getRange('short', 1, 10))).message).toMatch(/short read .*wanted 10 bytes at offset 1, got 2/);
  });

  it('uploads a file from disk by path', async () => {
    const b = backend();
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const path = join(tmp, 'big.bin');
    await writeFile(path, bytes);
    await b.put('packs/ab/big.pack', { path, size: bytes.length });
    expect((await b.get('packs/ab/big.pack'))?.body.equals(bytes)).toBe(true);
    expect((await b.getRange('packs/ab/big.pack', 1_000_000, 4096)).equals(bytes.subarray(1_000_000, 1_004_096))).toBe(true);
    expect((await rejection(b.put('x', { path: join(tmp, 'missing'), size: 1 }))).message).toMatch(/cannot read .*missing: ENOENT/);
    expect((await rejection(b.put('x', { path, size: 5 }))).message).toMatch(/big\.bin is 3145745 bytes, expected 5/);
  });

  it('lists past 1,000 keys in key order, relative to the prefix', async () => {
    const b = backend(`s3://${s3.bucket}/listing`);
    const keys = Array.from({ length: 1100 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
    await pool(keys, 16, (k) => b.put(k, Buffer.from(k)));
    await backend(`s3://${s3.bucket}/listing2`).put('many/zzz', Buffer.from('not ours'));

    s3.requests.reset();
    const listed = await collect(b.list('many/'));
    expect(listed.map((o) => o.key)).toEqual(keys);
    expect(listed[0]).toMatchObject({ size: 10 });
    expect(s3.requests.count('GET')).toBe(2); // 1000 + 100

    s3.requests.reset();
    const small = backend(`s3://${s3.bucket}/listing`, { pageSize: 7 });
    expect((await collect(small.list('many/0000'))).length).toBe(10);
    expect(s3.requests.count('GET')).toBe(2);
    expect((await collect(b.list(''))).length).toBe(1100);
  });

  it('counts the requests the server sees, by method', async () => {
    const b = backend();
    s3.requests.reset();
    await b.put('counted', Buffer.from('x'));
    await b.get('counted');
    await b.head('counted');
    await b.getRange('counted', 0, 1);
    await collect(b.list('counted'));
    await b.delete('counted');
    expect(s3.requests.byMethod()).toEqual({ DELETE: 1, GET: 3, HEAD: 1, PUT: 1 });
    expect(s3.requests.total).toBe(6);
    s3.requests.reset();
    expect(s3.requests.total).toBe(0);
  });
});

describe('error mapping', () => {
  it('names an unreachable endpoint', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const b = backend(`s3://${s3.bucket}`, { endpoint: `http://127.0.0.1:${port}` });
    const err = await rejection(b.get('x'));
    expect(err.message).toBe(`cannot reach S3 endpoint http://127.0.0.1:${port}: ECONNREFUSED`);
  });

  it('names a missing bucket', async () => {
    const b = backend('s3://no-such-bucket/p');
    const expected = `bucket 'no-such-bucket' does not exist at ${s3.endpoint}`;
    expect((await rejection(b.get('x'))).message).toBe(expected);
    expect((await rejection(b.put('x', Buffer.from('y')))).message).toBe(expected);
    expect((await rejection(collect(b.list('')))).message).toBe(expected);
  });

  it('names rejected credentials (unknown access key)', async () => {
    const b = backend(undefined, { credentials: { accessKeyId: 'NOPE', secretAccessKey: 'S3RVER' } });
    const err = await rejection(b.get('x'));
    expect(err.message).toMatch(/^S3 rejected the credentials for s3:\/\/dv-test\/repo at .* \(InvalidAccessKeyId\)/);
  });

  // s3rver 3.7.1 never verifies a SigV4 signature, so a wrong secret is tried against
  // dv serve, which does.
  it('names a wrong secret key (against dv serve, which verifies SigV4)', async () => {
    const proj = join(await mkdtemp(join(tmpdir(), 'dv-s3b-')), 'weather');
    await mkdir(proj);
    await dvOk(proj, ['init']);
    const key = await dvJson<Key>(proj, ['keys', 'create', '--read', '*', '--json']);
    const served = await startServe(proj, []);
    closers.push(async () => {
      await stopServe(served);
      await rm(join(proj, '..'), { recursive: true, force: true });
    });
    const b = backend('s3://weather/main', { endpoint: served.url, credentials: { accessKeyId: key.id, secretAccessKey: `${key.secret}x` } });
    const err = await rejection(b.get('x'));
    expect(err.message).toMatch(/^S3 rejected the credentials for s3:\/\/weather\/main at .* \(SignatureDoesNotMatch\)/);
  });

  it('rejects malformed URLs and endpoints', () => {
    expect(() => new S3Backend('http://bucket')).toThrow(DvError);
    expect(() => new S3Backend('s3://b', { endpoint: 'localhost:9000' })).toThrow(/http:\/\/ or https:\/\//);
  });
});

describe('retries', () => {
  it('retries 503s with backoff and replays a file body', async () => {
    const proxy = await startProxy((req, _b, n) => (n <= 2 ? { status: 503, code: 'ServiceUnavailable' } : 'forward'));
    const retries: number[] = [];
    const b = backend(undefined, { endpoint: proxy.endpoint, onRetry: (e) => retries.push(e.attempt) });
    const bytes = randomBytes(200_000);
    const path = join(tmp, 'retry.bin');
    await writeFile(path, bytes);
    s3.requests.reset();
    await b.put('retried', { path, size: bytes.length });
    expect(proxy.seen).toBe(3);
    expect(retries).toEqual([1, 2]);
    expect(s3.requests.count('PUT')).toBe(1);
    expect((await backend().get('retried'))?.body.equals(bytes)).toBe(true);
  });

  it('retries a reset connection', async () => {
    const proxy = await startProxy((_r, _b, n) => (n === 1 ? 'reset' : 'forward'));
    await backend().put('reset-me', Buffer.from('ok'));
    const b = backend(undefined, { endpoint: proxy.endpoint });
    expect((await b.get('reset-me'))?.body.toString()).toBe('ok');
    expect(proxy.seen).toBe(2);
  });

  it('gives up after the configured retries with one clear line', async () => {
    const proxy = await startProxy(() => ({ status: 503, code: 'SlowDown' }));
    const b = backend(undefined, { endpoint: proxy.endpoint, retries: 2 });
    const err = await rejection(b.get('whatever'));
    expect(err.message).toMatch(/^S3 get of s3:\/\/dv-test\/repo\/whatever failed: SlowDown \(HTTP 503\).*\(after 3 attempts\)$/);
    expect(proxy.seen).toBe(3);
  });

  it('maps 412 to PRECONDITION without retrying', async () => {
    const proxy = await startProxy(() => ({ status: 412, code: 'PreconditionFailed' }));
    const b = backend(undefined, { endpoint: proxy.endpoint });
    const err = await rejection(b.put('refs/heads/main', Buffer.from('x'), { ifMatch: '"abc"' }));
    expect(err.code).toBe('PRECONDITION');
    expect(proxy.seen).toBe(1);
  });
});

describe('conditional writes', () => {
  it('detects that s3rver ignores them, once per process, and cleans up', async () => {
    const b = backend();
    const supported = await b.detectConditionalWrites();
    expect(typeof supported).toBe('boolean');
    // Consistent with what the server actually does with a second create.
    await b.put('cond/once', Buffer.from('1'), { ifNoneMatch: '*' });
    const second = b.put('cond/once', Buffer.from('2'), { ifNoneMatch: '*' });
    if (supported) expect((await rejection(second)).code).toBe('PRECONDITION');
    else await expect(second).resolves.toBeDefined();
    expect(supported).toBe(false); // s3rver 3.7.1: PutObject ignores both headers

    s3.requests.reset();
    expect(await backend().detectConditionalWrites()).toBe(supported);
    expect(s3.requests.total).toBe(0);
    expect(await collect(b.list('.dv-probe/'))).toEqual([]);
  });

  it('detects a server that enforces If-None-Match and If-Match', async () => {
    // Emulates AWS semantics in front of s3rver (s3rver's ETag is the body MD5).
    const etags = new Map<string, string>();
    const proxy = await startProxy((req, body) => {
      const path = req.url!.split('?')[0]!;
      if (req.method === 'DELETE') etags.delete(path);
      if (req.method !== 'PUT') return 'forward';
      const current = etags.get(path);
      const ifMatch = req.headers['if-match'];
      if ((req.headers['if-none-match'] === '*' && current) || (ifMatch && ifMatch !== current)) {
        return { status: 412, code: 'PreconditionFailed' };
      }
      etags.set(path, `"${createHash('md5').update(body).digest('hex')}"`);
      return 'forward';
    });
    const b = backend(undefined, { endpoint: proxy.endpoint });
    expect(await b.detectConditionalWrites()).toBe(true);
    const { etag } = await b.put('refs/heads/main', Buffer.from('c1'), { ifNoneMatch: '*' });
    expect((await rejection(b.put('refs/heads/main', Buffer.from('c2'), { ifNoneMatch: '*' }))).code).toBe('PRECONDITION');
    await b.put('refs/heads/main', Buffer.from('c2'), { ifMatch: etag });
    expect((await rejection(b.put('refs/heads/main', Buffer.from('c3'), { ifMatch: etag }))).code).toBe('PRECONDITION');
  });
});

describe('pool', () => {
  it('bounds concurrency, keeps order, and stops at the first error', async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let active = 0;
    let peak = 0;
    const doubled = await pool(Array.from({ length: 40 }, (_, i) => i), 4, async (x) => {
      peak = Math.max(peak, ++active);
      await sleep(Math.random() * 4);
      active--;
      return x * 2;
    });
    expect(doubled).toEqual(Array.from({ length: 40 }, (_, i) => i * 2));
    expect(peak).toBe(4);

    let started = 0;
    let settled = 0;
    let closed = false;
    async function* items() { try { for (let i = 0; i < 100; i++) yield i; } finally { closed = true; } }
    const err = await pool(items(), 3, async (x, _i, signal) => {
      started++;
      if (x === 5) throw new Error('boom');
      await sleep(10);
      if (!signal.aborted) settled++;
      return x;
    }).catch((e: Error) => e);
    expect((err as Error).message).toBe('boom');
    expect(started).toBeLessThan(10); // nothing new after the failure
    expect(closed).toBe(true); // the source generator was closed
    expect(settled).toBeLessThan(started);
  });
});

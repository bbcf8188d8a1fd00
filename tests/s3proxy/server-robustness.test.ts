// Bad and hostile requests: traversal, encoded slashes, oversized headers, malformed
// XML, bad chunk signatures, clients that vanish mid-stream. None may crash the
// server or leave a partial commit.
import { connect } from 'node:net';
import { request as httpRequest } from 'node:http';
import { GetObjectCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deriveSigningKey, EMPTY_SHA256, sha256Hex } from '../../src/s3proxy/sigv4.js';
import { encodeChunked } from './chunk-encoder.js';
import { errorCode, raw, startProxy, type Proxy, type RawResponse } from './helpers.js';
import { MemoryBackend } from './memory-backend.js';
import { encodeQuery, signer } from './sign-helpers.js';

let p: Proxy;
const BIG = Buffer.alloc(256 * 1024, 7);

beforeAll(async () => {
  p = await startProxy({}, new MemoryBackend('weather', 4096));
  await p.backend.put('main', { 'data/a.csv': 'a', 'data/big.bin': BIG });
});
afterAll(() => p.stop());

async function alive(): Promise<void> {
  const r = await p.client().send(new ListBucketsCommand({}));
  expect(r.Buckets).toHaveLength(1);
}

/** Sign with the admin key and send with node:http; body may be written slowly or cut. */
async function signedRaw(method: string, path: string, headers: Record<string, string>, body?: Buffer, query: Record<string, string> = {}): Promise<RawResponse & { seed: string; amzDate: string }> {
  const s = signer(p.admin.id, p.admin.secret);
  const signed = await s.sign({
    method, protocol: 'http:', hostname: '127.0.0.1', port: p.port, path, query,
    headers: { host: `127.0.0.1:${p.port}`, ...headers },
  }, { signingDate: new Date() });
  const h = signed.headers as Record<string, string>;
  const seed = /Signature=([0-9a-f]{64})/.exec(h.authorization!)![1]!;
  const res = await new Promise<RawResponse>((resolve, reject) => {
    const qs = Object.keys(query).length ? `?${encodeQuery(query)}` : '';
    const req = httpRequest({ host: '127.0.0.1', port: p.port, method, path: path + qs, headers: h }, (r) => {
      let b = '';
      r.on('data', (d: Buffer) => { b += d.toString(); });
      r.on('end', () => resolve({ status: r.statusCode!, headers: r.headers, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
  return { ...res, seed, amzDate: h['x-amz-date']! };
}

describe('request targets', () => {
  test.each([
    ['/weather/main/../secret', 'InvalidArgument'],
    ['/weather/main/./data/a.csv', 'InvalidArgument'],
    ['/weather/main/%2e%2e/x', 'InvalidArgument'],
    ['/weather/main%2Fdata/a.csv', 'InvalidArgument'],
    ['/weather/main/data%2fa.csv', 'InvalidArgument'],
    ['/weather/main/a%00b', 'InvalidArgument'],
    ['/weather/main/%E0%A4%A', 'InvalidURI'],
  ])('%s -> 400 %s', async (path, code) => {
    const r = await raw(p.port, 'GET', path);
    expect(r.status).toBe(400);
    expect(errorCode(r.body)).toBe(code);
    expect(r.headers['x-amz-request-id']).toBeDefined();
  });

  test('unknown methods are 405; unsupported sub-resources 501', async () => {
    const r = await signedRaw('PATCH', '/weather/main/data/a.csv', { 'x-amz-content-sha256': EMPTY_SHA256 });
    expect(r.status).toBe(405);
    const acl = await signedRaw('GET', '/weather', { 'x-amz-content-sha256': EMPTY_SHA256 }, undefined, { acl: '' });
    expect(acl.status).toBe(501);
    expect(errorCode(acl.body)).toBe('NotImplemented');
  });

  test('oversized headers get 431 and the server carries on', async () => {
    const r = await new Promise<string>((resolve) => {
      const sock = connect(p.port, '127.0.0.1', () => {
        sock.write(`GET /weather HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
      });
      let got = '';
      sock.on('data', (d) => { got += d.toString(); });
      sock.on('close', () => resolve(got));
      sock.on('error', () => resolve(got));
    });
    expect(r).toMatch(/^HTTP\/1.1 431/);
    expect(r).toContain('<Code>RequestHeaderSectionTooLarge</Code>');
    await alive();
  });

  test('garbage instead of HTTP gets 400', async () => {
    const r = await new Promise<string>((resolve) => {
      const sock = connect(p.port, '127.0.0.1', () => sock.write('NOT HTTP AT ALL\r\n\r\n'));
      let got = '';
      sock.on('data', (d) => { got += d.toString(); });
      sock.on('close', () => resolve(got));
      sock.on('error', () => resolve(got));
    });
    expect(r).toMatch(/^HTTP\/1.1 400/);
    await alive();
  });
});

describe('bodies', () => {
  test('malformed XML in DeleteObjects is MalformedXML', async () => {
    const body = Buffer.from('<Delete><Object><Key>a</Key></Object>');
    const r = await signedRaw('POST', '/weather', { 'x-amz-content-sha256': sha256Hex(body), 'content-length': String(body.length) }, body, { delete: '' });
    expect(r.status).toBe(400);
    expect(errorCode(r.body)).toBe('MalformedXML');
  });

  test('a body that does not match x-amz-content-sha256 commits nothing', async () => {
    const before = p.backend.commitCount;
    const r = await signedRaw('PUT', '/weather/main/h.txt', { 'x-amz-content-sha256': sha256Hex('expected'), 'content-length': '5' }, Buffer.from('other'));
    expect(errorCode(r.body)).toBe('XAmzContentSHA256Mismatch');
    expect(p.backend.commitCount).toBe(before);
  });

  test('STREAMING-AWS4-HMAC-SHA256-PAYLOAD uploads verify every chunk', async () => {
    const data = Buffer.alloc(200_000, 3);
    const pieces = [data.subarray(0, 65536), data.subarray(65536, 131072), data.subarray(131072)];
    const headers = (len: number) => ({
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': String(data.length), 'content-length': String(len),
    });
    // The body length depends only on the chunk sizes, so sign once to learn it.
    const probe = encodeChunked(pieces, { signing: { signingKey: Buffer.alloc(32), amzDate: '', scope: '', seedSignature: '' } });
    const send = async (tamper: boolean) => {
      const s = signer(p.admin.id, p.admin.secret);
      const date = new Date();
      const signed = await s.sign({
        method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: p.port, path: '/weather/main/streamed.bin', query: {},
        headers: { host: `127.0.0.1:${p.port}`, ...headers(probe.length) },
      }, { signingDate: date });
      const h = signed.headers as Record<string, string>;
      const amzDate = h['x-amz-date']!;
      const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`;
      const seedSignature = /Signature=([0-9a-f]{64})/.exec(h.authorization!)![1]!;
      const body = encodeChunked(pieces, { signing: { signingKey: deriveSigningKey(p.admin.secret, amzDate.slice(0, 8), 'us-east-1', 's3'), amzDate, scope, seedSignature } });
      if (tamper) body[body.length - 300] ^= 1;
      return new Promise<RawResponse>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: p.port, method: 'PUT', path: '/weather/main/streamed.bin', headers: h }, (r) => {
          let b = '';
          r.on('data', (d: Buffer) => { b += d.toString(); });
          r.on('end', () => resolve({ status: r.statusCode!, headers: r.headers, body: b }));
        });
        req.on('error', reject);
        req.end(body);
      });
    };
    const before = p.backend.commitCount;
    const bad = await send(true);
    expect(bad.status).toBe(403);
    expect(errorCode(bad.body)).toBe('SignatureDoesNotMatch');
    expect(p.backend.commitCount).toBe(before);
    const ok = await send(false);
    expect(ok.status).toBe(200);
    expect(p.backend.content(p.backend.head('main').files.get('streamed.bin')!).equals(data)).toBe(true);
  });

  test('a client that disconnects mid-upload leaves no commit', async () => {
    const before = p.backend.commitCount;
    const s = signer(p.admin.id, p.admin.secret);
    const signed = await s.sign({
      method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: p.port, path: '/weather/main/cut.bin', query: {},
      headers: { host: `127.0.0.1:${p.port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(1 << 20) },
    }, { signingDate: new Date() });
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: p.port, method: 'PUT', path: '/weather/main/cut.bin', headers: signed.headers });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(100_000));
      setTimeout(() => { req.destroy(); resolve(); }, 50);
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(p.backend.commitCount).toBe(before);
    expect(p.backend.head('main').files.has('cut.bin')).toBe(false);
    await alive();
  });
});

describe('streaming reads', () => {
  test('a client that goes away mid-download stops the chunk reader', async () => {
    p.backend.readDelayMs = 5;
    try {
      const c = p.client();
      const ctrl = new AbortController();
      const r = await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/big.bin' }), { abortSignal: ctrl.signal });
      const stream = r.Body as NodeJS.ReadableStream;
      await new Promise<void>((resolve) => stream.once('data', () => resolve()));
      const readsAtAbort = p.backend.chunkReads;
      ctrl.abort();
      (stream as unknown as { destroy(): void }).destroy();
      await new Promise((res) => setTimeout(res, 200));
      expect(p.backend.destroyedReads).toBeGreaterThan(0);
      expect(p.backend.chunkReads - readsAtAbort).toBeLessThan(64 - 10);
    } finally {
      p.backend.readDelayMs = 0;
    }
    await alive();
  });
});

// Authentication and authorisation end to end: SigV4 via the SDK, presigned URLs,
// key patterns, anonymous reads, skew, revocation, logging without secrets.
import { request as httpRequest } from 'node:http';
import {
  CopyObjectCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command,
  PutObjectCommand, S3ServiceException,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EMPTY_SHA256 } from '../../src/s3proxy/sigv4.js';
import type { RequestLogInfo } from '../../src/s3proxy/server.js';
import { errorCode, raw, startProxy, type Proxy } from './helpers.js';
import { encodeQuery, signer } from './sign-helpers.js';

let p: Proxy;
const log: RequestLogInfo[] = [];

beforeAll(async () => {
  p = await startProxy({ onRequest: (i) => log.push(i) });
  await p.backend.put('main', { 'data/a.csv': 'main-a' });
  p.backend.branch('staging');
  await p.backend.put('staging', { 'data/s.csv': 'staging-s' });
});
afterAll(() => p.stop());

async function code(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    return (e as S3ServiceException).name;
  }
  return 'OK';
}

describe('signatures', () => {
  test('unsigned requests get 403 AccessDenied with an S3 error body', async () => {
    const r = await raw(p.port, 'GET', '/weather/main/data/a.csv');
    expect(r.status).toBe(403);
    expect(errorCode(r.body)).toBe('AccessDenied');
    expect(r.body).toMatch(/<RequestId>[0-9A-F]{16}<\/RequestId>/);
    expect(r.headers['x-amz-request-id']).toMatch(/^[0-9A-F]{16}$/);
  });

  test('a wrong secret is SignatureDoesNotMatch, an unknown id InvalidAccessKeyId', async () => {
    const get = new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv' });
    expect(await code(() => p.client({ id: p.admin.id, secret: 'wrong-secret-wrong-secret-wrong-secret-12' }).send(get))).toBe('SignatureDoesNotMatch');
    expect(await code(() => p.client({ id: 'DVNOSUCHKEY000000000', secret: 'x' }).send(get))).toBe('InvalidAccessKeyId');
  });

  test('a revoked key stops working on the next request', async () => {
    const k = p.keys.create({ read: ['*'] });
    const c = p.client(k);
    const get = new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv' });
    await (await c.send(get)).Body!.transformToString();
    p.keys.revoke(k.id);
    expect(await code(() => c.send(get))).toBe('InvalidAccessKeyId');
  });

  test('presigned URLs work with any HTTP client until they expire', async () => {
    const s = signer(p.admin.id, p.admin.secret);
    const url = async (path: string, expiresIn: number, signingDate = new Date()) => {
      const r = await s.presign({
        method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port: p.port, path,
        query: {}, headers: { host: `127.0.0.1:${p.port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      }, { expiresIn, signingDate });
      return `${path}?${encodeQuery(r.query as Record<string, string>)}`;
    };
    const ok = await raw(p.port, 'GET', await url('/weather/main/data/a.csv', 60));
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('main-a');
    const tampered = (await url('/weather/main/data/a.csv', 60)).replace('/a.csv', '/b.csv');
    expect(errorCode((await raw(p.port, 'GET', tampered)).body)).toBe('SignatureDoesNotMatch');
    const old = await url('/weather/main/data/a.csv', 60, new Date(Date.now() - 120_000));
    const expired = await raw(p.port, 'GET', old);
    expect(expired.status).toBe(403);
    expect(expired.body).toContain('Request has expired');
  });

  test('virtual-host style addressing (bucket in the Host header)', async () => {
    const host = `weather.localhost:${p.port}`;
    const s = signer(p.admin.id, p.admin.secret);
    const signed = await s.sign({
      method: 'GET', protocol: 'http:', hostname: 'weather.localhost', port: p.port, path: '/main/data/a.csv', query: {},
      headers: { host, 'x-amz-content-sha256': EMPTY_SHA256 },
    }, { signingDate: new Date() });
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: p.port, path: '/main/data/a.csv', headers: signed.headers }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => { b += d.toString(); });
        res.on('end', () => resolve(`${res.statusCode} ${b}`));
      });
      req.on('error', reject);
      req.end();
    });
    expect(body).toBe('200 main-a');
  });

  test('the request log names the key but never a secret or signature', () => {
    const text = JSON.stringify(log);
    expect(log.length).toBeGreaterThan(5);
    expect(text).not.toContain(p.admin.secret);
    expect(text).not.toMatch(/X-Amz-Signature|X-Amz-Credential|AWS4-HMAC/);
    expect(log.some((l) => l.accessKeyId === p.admin.id && l.status === 200)).toBe(true);
  });
});

describe('key patterns', () => {
  test('a read-only key reads but cannot write, delete or start uploads', async () => {
    const c = p.client(p.keys.create({ read: ['*'] }));
    await (await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv' }))).Body!.transformToString();
    expect(await code(() => c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/x.txt', Body: 'x' })))).toBe('AccessDenied');
    expect(await code(() => c.send(new DeleteObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv' })))).toBe('AccessDenied');
    expect(await code(() => c.send(new CreateMultipartUploadCommand({ Bucket: 'weather', Key: 'main/x.bin' })))).toBe('AccessDenied');
    expect(p.backend.head('main').files.has('data/a.csv')).toBe(true);
  });

  test('a staging job key writes staging, never main', async () => {
    const c = p.client(p.keys.create({ read: ['*'], write: ['staging'] }));
    await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'staging/out/r.csv', Body: 'r' }));
    expect(await code(() => c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/out/r.csv', Body: 'r' })))).toBe('AccessDenied');
    await c.send(new CopyObjectCommand({ Bucket: 'weather', Key: 'staging/in/a.csv', CopySource: 'weather/main/data/a.csv' }));
    expect(await code(() => c.send(new CopyObjectCommand({ Bucket: 'weather', Key: 'main/in/a.csv', CopySource: 'weather/staging/data/s.csv' })))).toBe('AccessDenied');
  });

  test('read patterns limit what a key sees, including bucket-wide listings', async () => {
    const c = p.client(p.keys.create({ read: ['staging'] }));
    expect(await code(() => c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv' })))).toBe('AccessDenied');
    const root = await c.send(new ListObjectsV2Command({ Bucket: 'weather', Delimiter: '/' }));
    expect(root.CommonPrefixes?.map((x) => x.Prefix)).toEqual(['staging/']);
    expect(await code(() => c.send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: 'main/' })))).toBe('AccessDenied');
    const commit = p.backend.refs.get('main')!.commit;
    expect(await code(() => c.send(new GetObjectCommand({ Bucket: 'weather', Key: `${commit}/data/a.csv` })))).toBe('AccessDenied');
  });
});

describe('server options', () => {
  test('--anonymous-read serves unsigned reads but never writes', async () => {
    const anon = await startProxy({ anonymousRead: true });
    try {
      await anon.backend.put('main', { 'a.txt': 'public' });
      expect((await raw(anon.port, 'GET', '/weather/main/a.txt')).body).toBe('public');
      const list = await raw(anon.port, 'GET', '/weather?list-type=2&delimiter=%2F');
      expect(list.body).toContain('<Prefix>main/</Prefix>');
      const put = await raw(anon.port, 'PUT', '/weather/main/b.txt', { 'content-length': '1' }, 'x');
      expect(put.status).toBe(403);
      expect(errorCode(put.body)).toBe('AccessDenied');
      const del = await raw(anon.port, 'DELETE', '/weather/main/a.txt');
      expect(del.status).toBe(403);
    } finally {
      await anon.stop();
    }
  });

  test('clock skew beyond 15 minutes is RequestTimeTooSkewed', async () => {
    const skewed = await startProxy({ now: () => Date.now() + 20 * 60_000 });
    try {
      expect(await code(() => skewed.client().send(new ListObjectsV2Command({ Bucket: 'weather' })))).toBe('RequestTimeTooSkewed');
    } finally {
      await skewed.stop();
    }
  });

  test('enforceRegion rejects signatures for another region', async () => {
    const strict = await startProxy({ enforceRegion: true });
    try {
      const c = strict.client(strict.admin, { region: 'eu-west-1' });
      expect(await code(() => c.send(new ListObjectsV2Command({ Bucket: 'weather' })))).toBe('AuthorizationHeaderMalformed');
      await strict.client().send(new ListObjectsV2Command({ Bucket: 'weather' }));
    } finally {
      await strict.stop();
    }
  });
});

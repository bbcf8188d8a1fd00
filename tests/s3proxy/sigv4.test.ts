// SigV4 verification against AWS's published examples and @smithy/signature-v4.
import { describe, expect, test } from 'vitest';
import { S3Error } from '../../src/s3proxy/errors.js';
import {
  authKind, canonicalQuery, EMPTY_SHA256, parseQuery, sha256Hex, uriEncode, verifySigV4, type SigV4Options, type SigV4Request,
} from '../../src/s3proxy/sigv4.js';
import { presign, signer, signHeaders, withHeader } from './sign-helpers.js';

const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const DOC_TIME = Date.UTC(2013, 4, 24);
const opts = (now: number, extra: Partial<SigV4Options> = {}): SigV4Options => ({
  lookupSecret: (id) => (id === AKID ? SECRET : null), now, ...extra,
});

function req(method: string, rawPath: string, rawQuery: string, headers: Record<string, string>): SigV4Request {
  return { method, rawPath, rawQuery, headers: new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), [v]])) };
}

function verify(r: SigV4Request, o: SigV4Options) {
  const q = parseQuery(r.rawQuery);
  const kind = authKind(r, q);
  if (!kind) throw new Error('unsigned');
  return verifySigV4(r, q, kind, o);
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof S3Error) return e.code;
    throw e;
  }
  return 'OK';
}

const docAuth = (signedHeaders: string, sig: string): string =>
  `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=${signedHeaders},Signature=${sig}`;

describe('AWS documentation examples', () => {
  test('GET Object with Range (header auth)', () => {
    const r = req('GET', '/test.txt', '', {
      host: 'examplebucket.s3.amazonaws.com', range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': '20130524T000000Z',
      authorization: docAuth('host;range;x-amz-content-sha256;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'),
    });
    const v = verify(r, opts(DOC_TIME));
    expect(v.accessKeyId).toBe(AKID);
    expect(v.payloadHash).toBe(EMPTY_SHA256);
  });

  test('PUT Object with a Date header and a key needing encoding ($), sent raw or encoded', () => {
    const payload = sha256Hex('Welcome to Amazon S3.');
    for (const path of ['/test%24file.text', '/test$file.text']) {
      const r = req('PUT', path, '', {
        date: 'Fri, 24 May 2013 00:00:00 GMT', host: 'examplebucket.s3.amazonaws.com', 'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY', 'x-amz-content-sha256': payload,
        authorization: docAuth('date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class', '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd'),
      });
      expect(verify(r, opts(DOC_TIME)).payloadHash).toBe(payload);
    }
  });

  test('GET Bucket with a sorted query and GET ?lifecycle (empty value)', () => {
    const base = { host: 'examplebucket.s3.amazonaws.com', 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': '20130524T000000Z' };
    verify(req('GET', '/', 'prefix=J&max-keys=2', {
      ...base, authorization: docAuth('host;x-amz-content-sha256;x-amz-date', '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'),
    }), opts(DOC_TIME));
    verify(req('GET', '/', 'lifecycle', {
      ...base, authorization: docAuth('host;x-amz-content-sha256;x-amz-date', 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'),
    }), opts(DOC_TIME));
  });

  test('presigned GET', () => {
    const q = `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${AKID}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request` +
      '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
      '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
    const r = req('GET', '/test.txt', q, { host: 'examplebucket.s3.amazonaws.com' });
    const v = verify(r, opts(DOC_TIME + 3600_000));
    expect(v.via).toBe('presigned');
    expect(v.payloadHash).toBe('UNSIGNED-PAYLOAD');
    expect(code(() => verify(r, opts(DOC_TIME + 86_401_000)))).toBe('AccessDenied'); // expired
    expect(code(() => verify(r, opts(DOC_TIME - 3600_000)))).toBe('AccessDenied'); // not yet valid
  });
});

describe('signatures made by @smithy/signature-v4', () => {
  const s = signer(AKID, SECRET);
  const now = Date.UTC(2026, 10, 22, 12, 0, 0);
  const at = new Date(now);

  test('header auth: GET with query, PUT with a payload hash, odd keys', async () => {
    const get = await signHeaders(s, { method: 'GET', path: '/weather', query: { 'list-type': '2', prefix: 'main/a b+c', delimiter: '/' }, headers: { 'x-amz-content-sha256': EMPTY_SHA256 } }, at);
    expect(code(() => verify(get, opts(now)))).toBe('OK');
    const body = 'hello';
    const path = `/weather/${['main', 'dir with space', 'ünï+&=.csv'].map((x) => uriEncode(x)).join('/')}`;
    const put = await signHeaders(s, { method: 'PUT', path, body, headers: { 'x-amz-content-sha256': sha256Hex(body), 'content-type': 'text/csv' } }, at);
    expect(verify(put, opts(now)).payloadHash).toBe(sha256Hex(body));
  });

  test('tampering with anything signed fails in constant-time comparison', async () => {
    const base = await signHeaders(s, { method: 'GET', path: '/weather/main/a.csv', headers: { 'x-amz-content-sha256': EMPTY_SHA256, range: 'bytes=0-1' } }, at);
    expect(code(() => verify({ ...base, method: 'DELETE' }, opts(now)))).toBe('SignatureDoesNotMatch');
    expect(code(() => verify({ ...base, rawPath: '/weather/main/b.csv' }, opts(now)))).toBe('SignatureDoesNotMatch');
    expect(code(() => verify({ ...base, rawQuery: 'x=1' }, opts(now)))).toBe('SignatureDoesNotMatch');
    expect(code(() => verify(withHeader(base, 'range', 'bytes=0-2'), opts(now)))).toBe('SignatureDoesNotMatch');
    const wrong = { ...opts(now), lookupSecret: () => 'not-the-secret' };
    expect(code(() => verify(base, wrong))).toBe('SignatureDoesNotMatch');
    const auth = base.headers.get('authorization')![0]!;
    expect(code(() => verify(withHeader(base, 'authorization', auth.replace(/Signature=.*/, 'Signature=xyz')), opts(now)))).toBe('SignatureDoesNotMatch');
  });

  test('unknown key, unsigned x-amz headers, missing content hash, SigV2', async () => {
    const other = await signHeaders(signer('NOPE', 'x'), { method: 'GET', path: '/weather', headers: { 'x-amz-content-sha256': EMPTY_SHA256 } }, at);
    expect(code(() => verify(other, opts(now)))).toBe('InvalidAccessKeyId');
    const base = await signHeaders(s, { method: 'PUT', path: '/weather/main/x', headers: { 'x-amz-content-sha256': EMPTY_SHA256 } }, at);
    expect(code(() => verify(withHeader(base, 'x-amz-copy-source', 'weather/main/secret'), opts(now)))).toBe('AccessDenied');
    expect(code(() => verify(withHeader(base, 'x-amz-content-sha256', null), opts(now)))).toBe('InvalidRequest');
    expect(code(() => verify(req('GET', '/', '', { authorization: 'AWS AKID:sig' }), opts(now)))).toBe('InvalidRequest');
  });

  test('clock skew is ±15 minutes', async () => {
    const r = await signHeaders(s, { method: 'GET', path: '/weather', headers: { 'x-amz-content-sha256': EMPTY_SHA256 } }, at);
    expect(code(() => verify(r, opts(now + 14 * 60_000)))).toBe('OK');
    expect(code(() => verify(r, opts(now - 14 * 60_000)))).toBe('OK');
    expect(code(() => verify(r, opts(now + 16 * 60_000)))).toBe('RequestTimeTooSkewed');
    expect(code(() => verify(r, opts(now - 16 * 60_000)))).toBe('RequestTimeTooSkewed');
  });

  test('region: any by default, enforced on request', async () => {
    const r = await signHeaders(signer(AKID, SECRET, 'eu-west-1'), { method: 'GET', path: '/weather', headers: { 'x-amz-content-sha256': EMPTY_SHA256 } }, at);
    expect(code(() => verify(r, opts(now)))).toBe('OK');
    expect(code(() => verify(r, opts(now, { region: 'us-east-1' })))).toBe('AuthorizationHeaderMalformed');
  });

  test('presigned URLs: valid, tampered, expired, longer than 7 days', async () => {
    const r = await presign(s, { method: 'GET', path: '/weather/main/a%20b.csv', query: { 'response-content-type': 'text/plain' } }, at, 3600);
    expect(verify(r, opts(now + 60_000)).via).toBe('presigned');
    expect(code(() => verify({ ...r, rawPath: '/weather/main/other.csv' }, opts(now)))).toBe('SignatureDoesNotMatch');
    expect(code(() => verify({ ...r, rawQuery: r.rawQuery.replace('text%2Fplain', 'text%2Fhtml') }, opts(now)))).toBe('SignatureDoesNotMatch');
    expect(code(() => verify(r, opts(now + 3601_000)))).toBe('AccessDenied');
    const week = await presign(s, { method: 'GET', path: '/weather/x' }, at, 7 * 24 * 3600);
    expect(code(() => verify(week, opts(now)))).toBe('OK');
    const tooLong = { ...week, rawQuery: week.rawQuery.replace('X-Amz-Expires=604800', 'X-Amz-Expires=604801') };
    expect(code(() => verify(tooLong, opts(now)))).toBe('AuthorizationQueryParametersError');
  });

  test('both mechanisms at once are refused', async () => {
    const r = await presign(s, { method: 'GET', path: '/weather/x' }, at, 60);
    expect(code(() => verify(withHeader(r, 'authorization', 'AWS4-HMAC-SHA256 Credential=x'), opts(now)))).toBe('InvalidArgument');
  });
});

test('canonical query: strict encoding, sorted by name then value, signature omitted', () => {
  const pairs = parseQuery('b=2&a=z&a=y&c&X-Amz-Signature=s&k=%2F%20%2B~*');
  expect(canonicalQuery(pairs, 'X-Amz-Signature')).toBe('a=y&a=z&b=2&c=&k=%2F%20%2B~%2A');
  expect(() => parseQuery('a=%zz')).toThrow(S3Error);
});

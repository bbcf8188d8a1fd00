// Read API through the real @aws-sdk/client-s3 against createS3Server.
import {
  GetBucketLocationCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListBucketsCommand,
  ListObjectsCommand, ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bodyText, errorCode, raw, s3error, startProxy, type Proxy } from './helpers.js';
import { createHash } from 'node:crypto';

const md5Hex = (d: string | Buffer): string => createHash('md5').update(d).digest('hex');

let p: Proxy;
let v1Commit: string;
const big = Buffer.alloc(1024 * 1024 + 123);
for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 10)) & 0xff;

beforeAll(async () => {
  p = await startProxy();
  v1Commit = await p.backend.put('main', {
    'data/a.csv': 'x,y\n1,2\n',
    'data/b.json': '{"k":1}',
    'data/sub/c.txt': 'hello',
    'data/big.bin': big,
    'README.md': '# weather',
    'odd/a b+c&d.txt': 'odd',
    'odd/ünï.txt': 'uni',
  });
  p.backend.tag('v1');
  p.backend.branch('feature/x');
  await p.backend.put('main', { 'data/a.csv': 'x,y\n1,2\n3,4\n' });
});
afterAll(() => p.stop());

describe('buckets', () => {
  test('ListBuckets shows the repository', async () => {
    const r = await p.client().send(new ListBucketsCommand({}));
    expect(r.Buckets?.map((b) => b.Name)).toEqual(['weather']);
  });
  test('HeadBucket and GetBucketLocation', async () => {
    const c = p.client();
    await c.send(new HeadBucketCommand({ Bucket: 'weather' }));
    const loc = await c.send(new GetBucketLocationCommand({ Bucket: 'weather' }));
    expect(loc.LocationConstraint ?? '').toBe('');
    const e = await s3error(() => c.send(new HeadBucketCommand({ Bucket: 'nope' })));
    expect(e.$metadata.httpStatusCode).toBe(404);
  });
  test('unknown bucket is NoSuchBucket with an XML body and a request id', async () => {
    const e = await s3error(() => p.client().send(new ListObjectsV2Command({ Bucket: 'nope' })));
    expect(e.name).toBe('NoSuchBucket');
    expect(e.$metadata.httpStatusCode).toBe(404);
    expect(e.$metadata.requestId).toMatch(/^[0-9A-F]{16}$/);
  });
});

describe('listing', () => {
  test('delimiter / at the root lists refs as common prefixes', async () => {
    const r = await p.client().send(new ListObjectsV2Command({ Bucket: 'weather', Delimiter: '/' }));
    expect(r.CommonPrefixes?.map((c) => c.Prefix)).toEqual(['feature/', 'main/', 'v1/']);
    expect(r.Contents ?? []).toEqual([]);
    const f = await p.client().send(new ListObjectsV2Command({ Bucket: 'weather', Delimiter: '/', Prefix: 'feature/' }));
    expect(f.CommonPrefixes?.map((c) => c.Prefix)).toEqual(['feature/x/']);
  });

  test('v2 with prefix and delimiter inside a ref', async () => {
    const r = await p.client().send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: 'main/data/', Delimiter: '/' }));
    expect(r.Contents?.map((c) => c.Key)).toEqual(['main/data/a.csv', 'main/data/b.json', 'main/data/big.bin']);
    expect(r.CommonPrefixes?.map((c) => c.Prefix)).toEqual(['main/data/sub/']);
    expect(r.KeyCount).toBe(4);
    const a = r.Contents![0]!;
    const entry = p.backend.head('main').files.get('data/a.csv')!;
    expect(a.ETag).toBe(`"${md5Hex(p.backend.content(entry))}"`);
    expect(a.Size).toBe(entry.size);
    expect(a.LastModified?.getTime()).toBe(p.backend.head('main').time.getTime());
  });

  test('v2 paginates with continuation tokens, every key exactly once', async () => {
    const c = p.client();
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await c.send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: 'main/', MaxKeys: 2, ContinuationToken: token }));
      seen.push(...(r.Contents ?? []).map((o) => o.Key!));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
      pages++;
    } while (token);
    expect(seen).toEqual([...p.backend.head('main').sorted].map((k) => `main/${k}`));
    expect(pages).toBe(4);
  });

  test('v2 paginates over common prefixes without repeating them', async () => {
    const c = p.client();
    const prefixes: string[] = [];
    let token: string | undefined;
    do {
      const r = await c.send(new ListObjectsV2Command({ Bucket: 'weather', Delimiter: '/', MaxKeys: 1, ContinuationToken: token }));
      prefixes.push(...(r.CommonPrefixes ?? []).map((o) => o.Prefix!));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    expect(prefixes).toEqual(['feature/', 'main/', 'v1/']);
  });

  test('v2 start-after and whole-bucket listing across refs', async () => {
    const r = await p.client().send(new ListObjectsV2Command({ Bucket: 'weather', StartAfter: 'main/data/big.bin', MaxKeys: 3 }));
    expect(r.Contents?.map((o) => o.Key)).toEqual(['main/data/sub/c.txt', 'main/odd/a b+c&d.txt', 'main/odd/ünï.txt']);
    const all = await p.client().send(new ListObjectsV2Command({ Bucket: 'weather' }));
    const keys = all.Contents!.map((o) => o.Key!);
    expect(keys.filter((k) => k.startsWith('v1/'))).toHaveLength(7);
    expect(keys.filter((k) => k.startsWith('feature/x/'))).toHaveLength(7);
    expect([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))).toEqual(keys);
  });

  test('v1 with marker, NextMarker and delimiter', async () => {
    const c = p.client();
    const r = await c.send(new ListObjectsCommand({ Bucket: 'weather', Prefix: 'main/', Delimiter: '/', MaxKeys: 2 }));
    expect(r.Contents?.map((o) => o.Key)).toEqual(['main/README.md']);
    expect(r.CommonPrefixes?.map((o) => o.Prefix)).toEqual(['main/data/']);
    expect(r.IsTruncated).toBe(true);
    expect(r.NextMarker).toBe('main/data/');
    const r2 = await c.send(new ListObjectsCommand({ Bucket: 'weather', Prefix: 'main/', Delimiter: '/', Marker: r.NextMarker }));
    expect(r2.CommonPrefixes?.map((o) => o.Prefix)).toEqual(['main/odd/']);
    expect(r2.IsTruncated).toBe(false);
  });

  test('encoding-type=url encodes keys and prefixes', async () => {
    const r = await p.client().send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: 'main/odd/', EncodingType: 'url' }));
    expect(r.Contents?.map((o) => o.Key)).toEqual(['main/odd/a%20b%2Bc%26d.txt', 'main/odd/%C3%BCn%C3%AF.txt']);
  });

  test('commit ids and prefixes address versions', async () => {
    const r = await p.client().send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: `${v1Commit.slice(0, 10)}/data/`, Delimiter: '/' }));
    expect(r.Contents?.map((o) => o.Key)).toContain(`${v1Commit.slice(0, 10)}/data/a.csv`);
  });

  test('paging through n keys reads O(n) entries in total', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) files[`many/d${i % 7}/f${String(i).padStart(5, '0')}.txt`] = 'x';
    await p.backend.put('feature/x', files);
    const c = p.client();
    const before = p.backend.walkYields;
    let token: string | undefined;
    let n = 0;
    let pages = 0;
    do {
      const r = await c.send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: 'feature/x/many/', ContinuationToken: token }));
      n += r.KeyCount!;
      pages++;
      token = r.NextContinuationToken;
    } while (token);
    expect(n).toBe(5000);
    expect(pages).toBe(5);
    expect(p.backend.walkYields - before).toBeLessThanOrEqual(5000 + pages);
  });

  test('max-keys is capped at 1000 and garbage is rejected', async () => {
    const r = await p.client().send(new ListObjectsV2Command({ Bucket: 'weather', MaxKeys: 5000 }));
    expect(r.MaxKeys).toBe(1000);
    const e = await s3error(() => p.client().send(new ListObjectsV2Command({ Bucket: 'weather', ContinuationToken: '!!' })));
    expect(e.name).toBe('InvalidArgument');
  });
});

describe('GetObject / HeadObject', () => {
  test('whole object with headers', async () => {
    const r = await p.client().send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv' }));
    expect(await bodyText(r.Body)).toBe('x,y\n1,2\n3,4\n');
    expect(r.ContentType).toBe('text/csv');
    expect(r.ContentLength).toBe(12);
    expect(r.AcceptRanges).toBe('bytes');
    expect(r.ETag).toBe(`"${md5Hex('x,y\n1,2\n3,4\n')}"`);
    expect(r.LastModified?.getTime()).toBe(Math.floor(p.backend.head('main').time.getTime() / 1000) * 1000);
  });

  test('tags, branches with slashes and commit prefixes', async () => {
    const c = p.client();
    expect(await bodyText((await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'v1/data/a.csv' }))).Body)).toBe('x,y\n1,2\n');
    expect(await bodyText((await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'feature/x/data/a.csv' }))).Body)).toBe('x,y\n1,2\n');
    expect(await bodyText((await c.send(new GetObjectCommand({ Bucket: 'weather', Key: `${v1Commit.slice(0, 7)}/data/sub/c.txt` }))).Body)).toBe('hello');
    expect(await bodyText((await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/odd/a b+c&d.txt' }))).Body)).toBe('odd');
    expect(await bodyText((await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/odd/ünï.txt' }))).Body)).toBe('uni');
  });

  test('missing keys and refs are NoSuchKey', async () => {
    const c = p.client();
    for (const Key of ['main/nope.txt', 'nobranch/data/a.csv', 'main/data', 'main/data/', 'main']) {
      const e = await s3error(() => c.send(new GetObjectCommand({ Bucket: 'weather', Key })));
      expect(e.name, Key).toBe('NoSuchKey');
      expect(e.$metadata.httpStatusCode).toBe(404);
    }
    const h = await s3error(() => c.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'main/nope' })));
    expect(h.$metadata.httpStatusCode).toBe(404);
  });

  test('ranges: a-b, a-, -n, clamping, multi-range and 416', async () => {
    const c = p.client();
    const get = (Range: string) => c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/big.bin', Range }));
    const r1 = await get('bytes=100-199');
    expect(r1.ContentRange).toBe(`bytes 100-199/${big.length}`);
    expect(Buffer.from(await r1.Body!.transformToByteArray())).toEqual(big.subarray(100, 200));
    expect(r1.$metadata.httpStatusCode).toBe(206);
    const r2 = await get(`bytes=${big.length - 10}-`);
    expect(Buffer.from(await r2.Body!.transformToByteArray())).toEqual(big.subarray(big.length - 10));
    const r3 = await get('bytes=-5');
    expect(Buffer.from(await r3.Body!.transformToByteArray())).toEqual(big.subarray(big.length - 5));
    const r4 = await get(`bytes=10-${big.length * 2}`);
    expect(r4.ContentLength).toBe(big.length - 10);
    await r4.Body!.transformToByteArray();
    const r5 = await get('bytes=0-1,5-6');
    expect(r5.$metadata.httpStatusCode).toBe(200);
    expect(r5.ContentLength).toBe(big.length);
    await r5.Body!.transformToByteArray();
    const e = await s3error(() => get(`bytes=${big.length}-`));
    expect(e.name).toBe('InvalidRange');
    expect(e.$metadata.httpStatusCode).toBe(416);
  });

  test('a range read touches only the chunks it overlaps', async () => {
    const before = p.backend.chunkReads;
    const r = await p.client().send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/big.bin', Range: 'bytes=600000-600099' }));
    expect(Buffer.from(await r.Body!.transformToByteArray())).toEqual(big.subarray(600000, 600100));
    expect(p.backend.chunkReads - before).toBe(1);
  });

  test('conditional GET: If-None-Match -> 304, If-Match -> 412, dates', async () => {
    const c = p.client();
    const h = await c.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv' }));
    const etag = h.ETag!;
    const nm = await s3error(() => c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv', IfNoneMatch: etag })));
    expect(nm.$metadata.httpStatusCode).toBe(304);
    const pm = await s3error(() => c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv', IfMatch: '"0000"' })));
    expect(pm.$metadata.httpStatusCode).toBe(412);
    expect(pm.name).toBe('PreconditionFailed');
    const ok = await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv', IfMatch: etag, IfUnmodifiedSince: new Date(0) }));
    await ok.Body!.transformToString();
    const ims = await s3error(() => c.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv', IfModifiedSince: h.LastModified })));
    expect(ims.$metadata.httpStatusCode).toBe(304);
    const old = await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv', IfModifiedSince: new Date(0) }));
    expect(await old.Body!.transformToString()).toContain('3,4');
  });

  test('HEAD reports length, type and validators without a body', async () => {
    const h = await p.client().send(new HeadObjectCommand({ Bucket: 'weather', Key: 'main/data/b.json' }));
    expect(h.ContentLength).toBe(7);
    expect(h.ContentType).toBe('application/json');
    const res = await raw(p.port, 'HEAD', '/weather/main/data/b.json');
    expect(res.status).toBe(403);
    expect(res.body).toBe('');
    expect(errorCode(res.body)).toBeUndefined();
  });
});

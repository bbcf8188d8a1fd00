// Behaviours Ceph's s3-tests found wrong in dv serve (issue 10), each named by its
// number there, plus ETags, retried uploads and group commit, through the real
// @aws-sdk/client-s3 (raw HTTP where the SDK would not send the request).
import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand,
  ListObjectsCommand, ListObjectsV2Command, PutBucketVersioningCommand, PutObjectCommand, S3ServiceException,
  UploadPartCommand, UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { signer } from './sign-helpers.js';
import { raw, s3error, startProxy, type Proxy } from './helpers.js';

let p: Proxy;
const md5 = (d: string | Buffer): Buffer => createHash('md5').update(d).digest();

beforeAll(async () => {
  p = await startProxy({ minPartSize: 4 });
  await p.backend.put('main', { 'data/a.csv': 'a\n', 'data/b.csv': 'b\n' });
});
afterAll(() => p.stop());

const parts = ['part one, ', 'part two, ', 'three'];

async function multipart(Key: string): Promise<{ UploadId: string; etags: string[]; done: string }> {
  const c = p.client();
  const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: 'weather', Key }));
  const etags: string[] = [];
  for (const [i, Body] of parts.entries()) {
    etags.push((await c.send(new UploadPartCommand({ Bucket: 'weather', Key, UploadId, PartNumber: i + 1, Body }))).ETag!);
  }
  const r = await c.send(new CompleteMultipartUploadCommand({
    Bucket: 'weather', Key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
  }));
  return { UploadId: UploadId!, etags, done: r.ETag! };
}

describe('ETags', () => {
  test('single part: MD5 of the content on PUT, GET, HEAD, LIST and CopyObject', async () => {
    const c = p.client();
    const put = await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/e/one.txt', Body: 'hello\n' }));
    const want = `"${md5('hello\n').toString('hex')}"`;
    expect(put.ETag).toBe(want);
    expect((await c.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'main/e/one.txt' }))).ETag).toBe(want);
    expect((await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/e/one.txt' }))).ETag).toBe(want);
    const copy = await c.send(new CopyObjectCommand({ Bucket: 'weather', Key: 'main/e/copy.txt', CopySource: 'weather/main/e/one.txt' }));
    expect(copy.CopyObjectResult?.ETag).toBe(want);
    const list = await c.send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: 'main/e/' }));
    expect(list.Contents?.map((o) => o.ETag)).toEqual([want, want]);
  });

  test('multipart: MD5 of the part MD5s, -N, the same on GET, HEAD, LIST and copies', async () => {
    const { etags, done } = await multipart('main/e/mp.txt');
    expect(etags).toEqual(parts.map((x) => `"${md5(x).toString('hex')}"`));
    const want = `"${md5(Buffer.concat(parts.map((x) => md5(x)))).toString('hex')}-3"`;
    expect(done).toBe(want);
    const c = p.client();
    expect((await c.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'main/e/mp.txt' }))).ETag).toBe(want);
    const list = await c.send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: 'main/e/mp' }));
    expect(list.Contents?.[0]?.ETag).toBe(want);
    const copy = await c.send(new CopyObjectCommand({ Bucket: 'weather', Key: 'main/e/mp2.txt', CopySource: 'weather/main/e/mp.txt' }));
    expect(copy.CopyObjectResult?.ETag).toBe(want);
  });
});

describe('Ceph s3-tests defects', () => {
  test('1. GET/HEAD ?partNumber=N serves part N (206, x-amz-mp-parts-count); past the last part 400 InvalidPart', async () => {
    const c = p.client();
    const { done } = await multipart('main/p/mp.txt');
    const r = await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/p/mp.txt', PartNumber: 2 }));
    expect(r.$metadata.httpStatusCode).toBe(206);
    expect(r.PartsCount).toBe(3);
    expect(r.ETag).toBe(done);
    expect(r.ContentRange).toBe(`bytes 10-19/${parts.join('').length}`);
    expect(await r.Body!.transformToString()).toBe('part two, ');
    const h = await c.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'main/p/mp.txt', PartNumber: 3 }));
    expect([h.ContentLength, h.PartsCount]).toEqual([5, 3]);
    const e = await s3error(() => c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/p/mp.txt', PartNumber: 4 })));
    expect([e.$metadata.httpStatusCode, e.name]).toEqual([400, 'InvalidPart']);
    // An object written in one part has exactly one part: itself.
    expect(await (await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv', PartNumber: 1 }))).Body!.transformToString()).toBe('a\n');
    const e2 = await s3error(() => c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv', PartNumber: 2 })));
    expect(e2.name).toBe('InvalidPart');
  });

  test('3. CompleteMultipartUpload sent again after it succeeded answers 200 with the same ETag, no new commit', async () => {
    const c = p.client();
    const { UploadId, etags, done } = await multipart('main/p/again.txt');
    const commits = p.backend.commitCount;
    const again = await c.send(new CompleteMultipartUploadCommand({
      Bucket: 'weather', Key: 'main/p/again.txt', UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
    }));
    expect(again.ETag).toBe(done);
    expect(p.backend.commitCount).toBe(commits);
    // A different part list for that id is still unknown.
    const e = await s3error(() => c.send(new CompleteMultipartUploadCommand({
      Bucket: 'weather', Key: 'main/p/again.txt', UploadId, MultipartUpload: { Parts: [{ ETag: etags[0], PartNumber: 1 }] },
    })));
    expect(e.name).toBe('NoSuchUpload');
  });

  test('4. max-keys=0 answers IsTruncated=false (v1 and v2)', async () => {
    const c = p.client();
    const v2 = await c.send(new ListObjectsV2Command({ Bucket: 'weather', MaxKeys: 0 }));
    expect([v2.IsTruncated, v2.KeyCount ?? 0, v2.NextContinuationToken]).toEqual([false, 0, undefined]);
    const v1 = await c.send(new ListObjectsCommand({ Bucket: 'weather', MaxKeys: 0 }));
    expect(v1.IsTruncated).toBe(false);
  });

  test('5. PutBucketVersioning (a bucket sub-resource PUT) answers 501 NotImplemented', async () => {
    const e = await s3error(() => p.client().send(new PutBucketVersioningCommand({ Bucket: 'weather', VersioningConfiguration: { Status: 'Enabled' } })));
    expect([e.$metadata.httpStatusCode, e.name]).toEqual([501, 'NotImplemented']);
  });

  test('6. flexible checksums come back: on PutObject, on HEAD/GET with checksum mode, from CreateMultipartUpload', async () => {
    const c = p.client();
    const put = await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/c/sum.txt', Body: 'summed\n', ChecksumAlgorithm: 'SHA256' }));
    const want = createHash('sha256').update('summed\n').digest('base64');
    expect(put.ChecksumSHA256).toBe(want);
    const h = await c.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'main/c/sum.txt', ChecksumMode: 'ENABLED' }));
    expect(h.ChecksumSHA256).toBe(want);
    const g = await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/c/sum.txt', ChecksumMode: 'ENABLED' }));
    expect(g.ChecksumSHA256).toBe(want);
    expect(await g.Body!.transformToString()).toBe('summed\n');
    const plain = await c.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'main/c/sum.txt' }));
    expect(plain.ChecksumSHA256).toBeUndefined();
    const mp = await c.send(new CreateMultipartUploadCommand({ Bucket: 'weather', Key: 'main/c/mp.txt', ChecksumAlgorithm: 'CRC32' }));
    expect(mp.ChecksumAlgorithm).toBe('CRC32');
  });

  test('6b. CompleteMultipartUpload returns the composite checksum, also when sent again (Ceph s3-tests)', async () => {
    const c = p.client();
    const Key = 'main/c/mp-sum.txt';
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: 'weather', Key, ChecksumAlgorithm: 'SHA256' }));
    const part = await c.send(new UploadPartCommand({ Bucket: 'weather', Key, UploadId, PartNumber: 1, Body: 'part one\n', ChecksumAlgorithm: 'SHA256' }));
    const sha = createHash('sha256').update('part one\n').digest();
    expect(part.ChecksumSHA256).toBe(sha.toString('base64'));
    const want = `${createHash('sha256').update(sha).digest('base64')}-1`;
    const complete = () => c.send(new CompleteMultipartUploadCommand({
      Bucket: 'weather', Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag, ChecksumSHA256: part.ChecksumSHA256 }] },
    }));
    expect((await complete()).ChecksumSHA256).toBe(want);
    expect((await complete()).ChecksumSHA256).toBe(want);
  });

  test('7. CopyObject onto itself without a change is 400; with REPLACE it succeeds and commits nothing', async () => {
    const c = p.client();
    const e = await s3error(() => c.send(new CopyObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv', CopySource: 'weather/main/data/a.csv' })));
    expect([e.$metadata.httpStatusCode, e.name]).toEqual([400, 'InvalidRequest']);
    const commits = p.backend.commitCount;
    await c.send(new CopyObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv', CopySource: 'weather/main/data/a.csv', MetadataDirective: 'REPLACE' }));
    expect(p.backend.commitCount).toBe(commits);
  });

  test('8. UploadPartCopy with a range past the source end is InvalidRange', async () => {
    const c = p.client();
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: 'weather', Key: 'main/c/pc.txt' }));
    const e = await s3error(() => c.send(new UploadPartCopyCommand({
      Bucket: 'weather', Key: 'main/c/pc.txt', UploadId, PartNumber: 1, CopySource: 'weather/main/data/a.csv', CopySourceRange: 'bytes=0-99',
    })));
    expect([e.$metadata.httpStatusCode, e.name]).toEqual([416, 'InvalidRange']);
  });

  test('9. an Expect header other than 100-continue is ignored, as S3 does (not 417 with an empty body)', async () => {
    const signed = await signer(p.admin.id, p.admin.secret).sign({
      method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port: p.port, path: '/weather/main/data/a.csv', query: {},
      headers: { host: `127.0.0.1:${p.port}`, expect: 'something-else' },
    }, { signingDate: new Date() });
    const r = await raw(p.port, 'GET', '/weather/main/data/a.csv', signed.headers as Record<string, string>);
    expect([r.status, r.body]).toEqual([200, 'a\n']);
  });

  test('10. SSE headers (SSE-S3, SSE-KMS, SSE-C) get 501 NotImplemented instead of being ignored', async () => {
    const c = p.client();
    for (const extra of [{ ServerSideEncryption: 'AES256' as const }, { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: 'k' },
      { SSECustomerAlgorithm: 'AES256', SSECustomerKey: 'pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=' }]) {
      const e = await s3error(() => c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/c/sse.txt', Body: 'x', ...extra })));
      expect([e.$metadata.httpStatusCode, e.name]).toEqual([501, 'NotImplemented']);
    }
    const e = await s3error(() => c.send(new CreateMultipartUploadCommand({ Bucket: 'weather', Key: 'main/c/sse.txt', ServerSideEncryption: 'AES256' })));
    expect(e.name).toBe('NotImplemented');
  });
});

describe('commits', () => {
  test('a retried PUT of what the key already holds makes no commit', async () => {
    const c = p.client();
    await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/r/x.txt', Body: 'same\n' }));
    const commits = p.backend.commitCount;
    const again = await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/r/x.txt', Body: 'same\n' }));
    expect(again.ETag).toBe(`"${md5('same\n').toString('hex')}"`);
    expect(p.backend.commitCount).toBe(commits);
    await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/r/x.txt', Body: 'changed\n' }));
    expect(p.backend.commitCount).toBe(commits + 1);
  });

  test('concurrent PUTs to one branch share commits, and each is readable once answered', async () => {
    const c = p.client();
    const commits = p.backend.commitCount;
    p.backend.commitDelayMs = 20;
    onTestFinished(() => { p.backend.commitDelayMs = 0; });
    await Promise.all(Array.from({ length: 40 }, async (_, i) => {
      await c.send(new PutObjectCommand({ Bucket: 'weather', Key: `main/g/${i}.txt`, Body: `file ${i}\n` }));
      const got = await c.send(new GetObjectCommand({ Bucket: 'weather', Key: `main/g/${i}.txt` }));
      expect(await got.Body!.transformToString()).toBe(`file ${i}\n`);
    }));
    const made = p.backend.commitCount - commits;
    expect(made).toBeGreaterThan(0);
    expect(made).toBeLessThan(40);
    const list = await c.send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: 'main/g/' }));
    expect(list.KeyCount).toBe(40);
  });

  test('a conditional write in a group still gets its own precondition checked (412), the others land', async () => {
    const c = p.client();
    await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/k/taken.txt', Body: 'first\n' }));
    const results = await Promise.allSettled([
      c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/k/taken.txt', Body: 'second\n', IfNoneMatch: '*' })),
      ...Array.from({ length: 5 }, (_, i) => c.send(new PutObjectCommand({ Bucket: 'weather', Key: `main/k/${i}.txt`, Body: `${i}` }))),
    ]);
    expect(results[0]!.status).toBe('rejected');
    expect(((results[0] as PromiseRejectedResult).reason as S3ServiceException).$metadata.httpStatusCode).toBe(412);
    expect(results.slice(1).every((r) => r.status === 'fulfilled')).toBe(true);
    const got = await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/k/taken.txt' }));
    expect(await got.Body!.transformToString()).toBe('first\n');
  });
});

describe('listing details Ceph s3-tests check', () => {
  test('encoding-type=url writes a space as %20; an empty continuation token is no token', async () => {
    const c = p.client();
    await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/enc/quux ab/thud', Body: 'x' }));
    const r = await c.send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: 'main/enc/', Delimiter: '/', EncodingType: 'url' }));
    expect(r.CommonPrefixes?.map((x) => x.Prefix)).toEqual(['main/enc/quux%20ab/']);
    const all = await c.send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: 'main/enc/', ContinuationToken: '' }));
    expect(all.Contents?.map((x) => x.Key)).toEqual(['main/enc/quux ab/thud']);
    expect(all.ContinuationToken).toBe('');
  });
});

describe('conditional PUTs Ceph s3-tests check', () => {
  test('If-Match on a key that does not exist is 404 NoSuchKey; If-None-Match with the current ETag is 412', async () => {
    const c = p.client();
    const e = await s3error(() => c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/cond/none.txt', Body: 'x', IfMatch: '*' })));
    expect([e.$metadata.httpStatusCode, e.name]).toEqual([404, 'NoSuchKey']);
    const put = await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/cond/a.txt', Body: 'bar' }));
    const e2 = await s3error(() => c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/cond/a.txt', Body: 'zar', IfNoneMatch: put.ETag!.replace(/"/g, '') })));
    expect(e2.$metadata.httpStatusCode).toBe(412);
    await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/cond/a.txt', Body: 'zar', IfNoneMatch: '"0123456789abcdef0123456789abcdef"' }));
    await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/cond/a.txt', Body: 'baz', IfMatch: `"${md5('zar').toString('hex')}"` }));
    const got = await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/cond/a.txt' }));
    expect(await got.Body!.transformToString()).toBe('baz');
  });
});

// Write API through the real @aws-sdk/client-s3: PutObject (plain and the SDK's
// default aws-chunked + trailing checksum), multipart, delete, copy.
import { Readable } from 'node:stream';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand,
  DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, ListMultipartUploadsCommand, ListPartsCommand,
  PutObjectCommand, UploadPartCommand, UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { s3error, startProxy, type Proxy } from './helpers.js';
import { createHash } from 'node:crypto';

const md5Hex = (d: string | Buffer): string => createHash('md5').update(d).digest('hex');

let p: Proxy;
let seen: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  p = await startProxy({ minPartSize: 5 * 1024 * 1024 });
  for (const ev of ['request', 'checkContinue']) p.running.server.prependListener(ev, (req: IncomingMessage) => { seen.push(req.headers); });
  await p.backend.put('main', { 'data/a.csv': 'a\n', 'data/b.csv': 'b\n' });
  p.backend.tag('v1');
  p.backend.branch('staging');
});
afterAll(() => p.stop());
beforeEach(() => { seen = []; });

const read = async (Key: string): Promise<string> =>
  (await p.client().send(new GetObjectCommand({ Bucket: 'weather', Key }))).Body!.transformToString();

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 8)) & 0xff;
  return b;
}

describe('PutObject', () => {
  test('a buffer body (x-amz-checksum-crc32 header) becomes a commit on the branch', async () => {
    const before = p.backend.refs.get('main')!.commit;
    const r = await p.client().send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/out/new.csv', Body: 'n,1\n' }));
    expect(r.ETag).toBe(`"${md5Hex('n,1\n')}"`);
    expect(seen[0]!['x-amz-checksum-crc32']).toBeDefined();
    expect(p.backend.refs.get('main')!.commit).not.toBe(before);
    expect(p.backend.head('main').message).toMatch(/PutObject out\/new.csv \(key DV/);
    expect(await read('main/out/new.csv')).toBe('n,1\n');
  });

  test('a stream body uses the SDK default STREAMING-UNSIGNED-PAYLOAD-TRAILER', async () => {
    const data = pattern(300_000, 1);
    await p.client().send(new PutObjectCommand({
      Bucket: 'weather', Key: 'main/out/stream.bin', Body: Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]), ContentLength: data.length,
    }));
    const h = seen.find((x) => x['x-amz-content-sha256'] === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    expect(h?.['x-amz-trailer']).toBe('x-amz-checksum-crc32');
    const got = await p.client().send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/out/stream.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(data);
  });

  test('large bodies wait for 100-continue, which a refused write never gets', async () => {
    const data = pattern(3 * 1024 * 1024, 9);
    await p.client().send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/out/large.bin', Body: data }));
    expect(seen[0]!.expect).toBe('100-continue');
    const ro = p.client(p.keys.create({ read: ['*'] }));
    const e = await s3error(() => ro.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/out/large2.bin', Body: data })));
    expect(e.name).toBe('AccessDenied');
  });

  test('every checksum algorithm the SDK offers is verified', async () => {
    for (const ChecksumAlgorithm of ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const) {
      const Body = Readable.from([pattern(70_000, 3)]);
      await p.client().send(new PutObjectCommand({ Bucket: 'weather', Key: `main/ck/${ChecksumAlgorithm}`, Body, ContentLength: 70_000, ChecksumAlgorithm }));
      await p.client().send(new PutObjectCommand({ Bucket: 'weather', Key: `main/ck/${ChecksumAlgorithm}.b`, Body: 'x', ChecksumAlgorithm }));
    }
  });

  test('a wrong checksum is BadDigest and commits nothing', async () => {
    const before = p.backend.commitCount;
    const e = await s3error(() => p.client().send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/bad.txt', Body: 'abc', ChecksumCRC32: 'AAAAAA==' })));
    expect(e.name).toBe('BadDigest');
    expect(p.backend.commitCount).toBe(before);
  });

  test('writes to tags and commits are refused; unknown branches too', async () => {
    const c = p.client();
    const tag = await s3error(() => c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'v1/x.txt', Body: 'x' })));
    expect(tag.$metadata.httpStatusCode).toBe(405);
    expect(tag.message).toMatch(/tag/);
    const id = p.backend.refs.get('main')!.commit;
    const commit = await s3error(() => c.send(new PutObjectCommand({ Bucket: 'weather', Key: `${id.slice(0, 8)}/x.txt`, Body: 'x' })));
    expect(commit.$metadata.httpStatusCode).toBe(405);
    const none = await s3error(() => c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'nobranch/x.txt', Body: 'x' })));
    expect(none.$metadata.httpStatusCode).toBe(404);
    const reserved = await s3error(() => c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/.dv/keys.json', Body: 'x' })));
    expect(reserved.name).toBe('InvalidArgument');
  });

  test('If-None-Match: * refuses to overwrite', async () => {
    const c = p.client();
    await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/once.txt', Body: '1', IfNoneMatch: '*' }));
    const e = await s3error(() => c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/once.txt', Body: '2', IfNoneMatch: '*' })));
    expect(e.$metadata.httpStatusCode).toBe(412);
    expect(await read('main/once.txt')).toBe('1');
  });

  test('concurrent writers to one branch never lose an update', async () => {
    const c = p.client();
    await Promise.all(Array.from({ length: 20 }, (_, i) =>
      c.send(new PutObjectCommand({ Bucket: 'weather', Key: `main/par/${i}.txt`, Body: String(i) }))));
    const files = [...p.backend.head('main').files.keys()].filter((k) => k.startsWith('par/'));
    expect(files).toHaveLength(20);
  });
});

describe('multipart', () => {
  const MiB = 1024 * 1024;
  test('create, upload parts (stream + buffer), list, complete', async () => {
    const c = p.client();
    const parts = [pattern(5 * MiB, 1), pattern(5 * MiB + 17, 2), pattern(1234, 3)];
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: 'weather', Key: 'main/mp/big.bin' }));
    const ups = await c.send(new ListMultipartUploadsCommand({ Bucket: 'weather' }));
    expect(ups.Uploads?.map((u) => u.UploadId)).toContain(UploadId);
    const etags: string[] = [];
    for (const [i, body] of parts.entries()) {
      const Body = i === 1 ? Readable.from([body]) : body;
      const r = await c.send(new UploadPartCommand({ Bucket: 'weather', Key: 'main/mp/big.bin', UploadId, PartNumber: i + 1, Body, ContentLength: body.length }));
      etags.push(r.ETag!);
    }
    const listed = await c.send(new ListPartsCommand({ Bucket: 'weather', Key: 'main/mp/big.bin', UploadId }));
    expect(listed.Parts?.map((x) => [x.PartNumber, x.Size])).toEqual([[1, 5 * MiB], [2, 5 * MiB + 17], [3, 1234]]);
    const before = p.backend.commitCount;
    const done = await c.send(new CompleteMultipartUploadCommand({
      Bucket: 'weather', Key: 'main/mp/big.bin', UploadId,
      MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
    }));
    const all = Buffer.concat(parts);
    // S3's multipart form: MD5 of the binary part MD5s, then the part count.
    expect(etags).toEqual(parts.map((b) => `"${md5Hex(b)}"`));
    expect(done.ETag).toBe(`"${md5Hex(Buffer.concat(parts.map((b) => createHash('md5').update(b).digest())))}-3"`);
    expect(p.backend.commitCount).toBe(before + 1);
    const got = await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/mp/big.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(all)).toBe(true);
    const again = await s3error(() => c.send(new ListPartsCommand({ Bucket: 'weather', Key: 'main/mp/big.bin', UploadId })));
    expect(again.name).toBe('NoSuchUpload');
  });

  test('bad part lists: order, unknown ETag, too small; abort', async () => {
    const c = p.client();
    const Key = 'main/mp/bad.bin';
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: 'weather', Key }));
    const e1 = (await c.send(new UploadPartCommand({ Bucket: 'weather', Key, UploadId, PartNumber: 1, Body: 'small' }))).ETag!;
    const e2 = (await c.send(new UploadPartCommand({ Bucket: 'weather', Key, UploadId, PartNumber: 2, Body: 'tail' }))).ETag!;
    const complete = (Parts: { ETag: string; PartNumber: number }[]) =>
      s3error(() => c.send(new CompleteMultipartUploadCommand({ Bucket: 'weather', Key, UploadId, MultipartUpload: { Parts } })));
    expect((await complete([{ ETag: e2, PartNumber: 2 }, { ETag: e1, PartNumber: 1 }])).name).toBe('InvalidPartOrder');
    expect((await complete([{ ETag: '"nope"', PartNumber: 1 }])).name).toBe('InvalidPart');
    expect((await complete([{ ETag: e1, PartNumber: 1 }, { ETag: e2, PartNumber: 2 }])).name).toBe('EntityTooSmall');
    await c.send(new AbortMultipartUploadCommand({ Bucket: 'weather', Key, UploadId }));
    const gone = await s3error(() => c.send(new UploadPartCommand({ Bucket: 'weather', Key, UploadId, PartNumber: 3, Body: 'x' })));
    expect(gone.name).toBe('NoSuchUpload');
    const bad = await s3error(() => c.send(new AbortMultipartUploadCommand({ Bucket: 'weather', Key, UploadId: 'nope' })));
    expect(bad.$metadata.httpStatusCode).toBe(404);
  });

  test('a single part may be small; UploadPartCopy copies a range', async () => {
    const c = p.client();
    const Key = 'main/mp/copy.txt';
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: 'weather', Key }));
    const r = await c.send(new UploadPartCopyCommand({ Bucket: 'weather', Key, UploadId, PartNumber: 1, CopySource: 'weather/v1/data/a.csv', CopySourceRange: 'bytes=0-0' }));
    await c.send(new CompleteMultipartUploadCommand({ Bucket: 'weather', Key, UploadId, MultipartUpload: { Parts: [{ ETag: r.CopyPartResult!.ETag!, PartNumber: 1 }] } }));
    expect(await read(Key)).toBe('a');
  });
});

describe('delete and copy', () => {
  test('DeleteObject removes a file in one commit; a missing key is still 204', async () => {
    const c = p.client();
    await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/del/x.txt', Body: 'x' }));
    const before = p.backend.commitCount;
    const r = await c.send(new DeleteObjectCommand({ Bucket: 'weather', Key: 'main/del/x.txt' }));
    expect(r.$metadata.httpStatusCode).toBe(204);
    expect(p.backend.commitCount).toBe(before + 1);
    expect(p.backend.head('main').files.has('del/x.txt')).toBe(false);
    await c.send(new DeleteObjectCommand({ Bucket: 'weather', Key: 'main/del/x.txt' }));
    expect(p.backend.commitCount).toBe(before + 1);
  });

  test('DeleteObjects: one commit per branch, per-key errors for tags', async () => {
    const c = p.client();
    await p.backend.put('staging', { 's/1.txt': '1', 's/2.txt': '2' });
    await p.backend.put('main', { 'm/1.txt': '1' });
    const before = p.backend.commitCount;
    const r = await c.send(new DeleteObjectsCommand({
      Bucket: 'weather',
      Delete: { Objects: [{ Key: 'staging/s/1.txt' }, { Key: 'staging/s/2.txt' }, { Key: 'main/m/1.txt' }, { Key: 'v1/data/a.csv' }] },
    }));
    expect(r.Deleted?.map((d) => d.Key).sort()).toEqual(['main/m/1.txt', 'staging/s/1.txt', 'staging/s/2.txt']);
    expect(r.Errors?.map((e) => [e.Key, e.Code])).toEqual([['v1/data/a.csv', 'MethodNotAllowed']]);
    expect(p.backend.commitCount).toBe(before + 2);
  });

  test('CopyObject from a tag to a branch reuses the stored chunks', async () => {
    const c = p.client();
    const chunksBefore = p.backend.chunks.size;
    const r = await c.send(new CopyObjectCommand({ Bucket: 'weather', Key: 'staging/copied.csv', CopySource: 'weather/v1/data/a.csv' }));
    expect(r.CopyObjectResult?.ETag).toBe(`"${md5Hex('a\n')}"`);
    expect(p.backend.chunks.size).toBe(chunksBefore);
    expect(await read('staging/copied.csv')).toBe('a\n');
    const e = await s3error(() => c.send(new CopyObjectCommand({ Bucket: 'weather', Key: 'staging/c2.csv', CopySource: 'weather/v1/data/a.csv', CopySourceIfMatch: '"00"' })));
    expect(e.$metadata.httpStatusCode).toBe(412);
    const missing = await s3error(() => c.send(new CopyObjectCommand({ Bucket: 'weather', Key: 'staging/c3.csv', CopySource: 'weather/v1/none' })));
    expect(missing.name).toBe('NoSuchKey');
  });
});

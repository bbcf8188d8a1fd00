// ETags are stable across clones: a project serves one file added with dv add and
// one uploaded in parts through dv serve; after push and clone, `dv serve` in the
// clone (which has no MD5 index rows: it computes them on first need) and
// `dv serve --remote` give the same ETags on LIST, HEAD and GET.
import { createHash } from 'node:crypto';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand,
  ListObjectsV2Command, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TempDirs, dvJson, dvOk, randomBytes, writeRandomFile } from '../helpers/cli.js';
import { startS3Server as startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { startServe, stopServe, type Key } from '../helpers/serve.js';

const MiB = 1 << 20;
const tmp = new TempDirs();
let s3: S3TestServer;

beforeAll(async () => { s3 = await startS3rver(); });
afterAll(async () => {
  await s3?.stop();
  tmp.cleanup();
});

function client(url: string, key: Key): S3Client {
  return new S3Client({
    endpoint: url, forcePathStyle: true, region: 'us-east-1', maxAttempts: 1,
    credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
  });
}

/** ETags by key from LIST, checked against HEAD and GET of each. */
async function etags(url: string, key: Key): Promise<Record<string, string>> {
  const c = client(url, key);
  try {
    const out: Record<string, string> = {};
    const list = await c.send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: 'main/data/' }));
    for (const o of list.Contents ?? []) {
      out[o.Key!] = o.ETag!;
      expect((await c.send(new HeadObjectCommand({ Bucket: 'weather', Key: o.Key! }))).ETag).toBe(o.ETag);
      const g = await c.send(new GetObjectCommand({ Bucket: 'weather', Key: o.Key! }));
      await g.Body!.transformToByteArray();
      expect(g.ETag).toBe(o.ETag);
    }
    return out;
  } finally {
    c.destroy();
  }
}

describe('ETags across push and clone', () => {
  it('are the same in the project, a fresh clone and dv serve --remote', async () => {
    const env = { ...s3.env, DV_REMOTE_SETTLE_MS: '50' };
    const src = path.join(tmp.make('dv-etag-src-'), 'weather');
    writeRandomFile(src, 'data/added.bin', 3 * MiB, 'etag-added');
    await dvOk(src, ['init'], { env });
    await dvOk(src, ['add', 'data', '-m', 'v1'], { env });
    const key = await dvJson<Key>(src, ['keys', 'create', '--read', '*', '--write', 'main', '--json'], { env });
    const served = await startServe(src, [], env);
    const parts = [randomBytes(5 * MiB, 'p1'), randomBytes(MiB, 'p2')];
    const c = client(served.url, key);
    try {
      const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: 'weather', Key: 'main/data/parts.bin' }));
      const sent = [];
      for (const [i, Body] of parts.entries()) {
        sent.push({ PartNumber: i + 1, ETag: (await c.send(new UploadPartCommand({ Bucket: 'weather', Key: 'main/data/parts.bin', UploadId, PartNumber: i + 1, Body }))).ETag });
      }
      await c.send(new CompleteMultipartUploadCommand({ Bucket: 'weather', Key: 'main/data/parts.bin', UploadId, MultipartUpload: { Parts: sent } }));
    } finally {
      c.destroy();
    }
    const here = await etags(served.url, key);
    expect(await stopServe(served)).toBe(0);
    const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest();
    expect(here).toEqual({
      'main/data/added.bin': `"${md5(randomBytes(3 * MiB, 'etag-added')).toString('hex')}"`,
      'main/data/parts.bin': `"${md5(Buffer.concat(parts.map(md5))).toString('hex')}-2"`,
    });

    await dvOk(src, ['remote', 'add', 'origin', `s3://${s3.bucket}/weather`, '--endpoint', s3.endpoint], { env });
    await dvOk(src, ['push'], { env });
    const cloned = path.join(tmp.make('dv-etag-clone-'), 'weather');
    await dvOk(path.dirname(cloned), ['clone', `s3://${s3.bucket}/weather`, cloned, '--endpoint', s3.endpoint], { env });
    const key2 = await dvJson<Key>(cloned, ['keys', 'create', '--read', '*', '--json'], { env });
    for (const args of [[], ['--remote', 'origin']]) {
      const s = await startServe(cloned, args, env);
      try {
        expect(await etags(s.url, key2)).toEqual(here);
      } finally {
        expect(await stopServe(s)).toBe(0);
      }
    }
  });
});

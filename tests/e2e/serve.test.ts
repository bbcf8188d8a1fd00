// `dv serve` end to end: a real child process on a loopback port over a project made
// with dv add / dv commit, keys made with dv keys, driven by @aws-sdk/client-s3 and
// the AWS CLI (ls, cp, sync, presign); writes become commits that dv log and dv fsck
// see; hostile requests get S3 errors and the server keeps serving; --remote serves
// a pushed repository from s3rver with ranged GETs and a bounded cache.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  GetObjectCommand, HeadObjectCommand, ListBucketsCommand, ListObjectsV2Command, PutObjectCommand, S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TempDirs, dv, dvJson, dvOk, randomBytes, writeFile, writeRandomFile } from '../helpers/cli.js';
import { awsEnv, findTool, startServe, stopServe, type Key, type Served } from '../helpers/serve.js';
import { startS3Server as startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { presign, signer } from '../s3proxy/sign-helpers.js';

const run = promisify(execFile);
const MiB = 1 << 20;
const tmp = new TempDirs();

function client(url: string, key: Key): S3Client {
  return new S3Client({
    endpoint: url, forcePathStyle: true, region: 'us-east-1', maxAttempts: 1,
    credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
  });
}

async function get(c: S3Client, key: string, range?: string): Promise<Buffer> {
  const r = await c.send(new GetObjectCommand({ Bucket: 'weather', Key: key, Range: range }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

const status = (p: Promise<unknown>): Promise<number> =>
  p.then(() => 200, (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode ?? -1);

function rawRequest(port: number, method: string, target: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

afterAll(() => tmp.cleanup());

describe('dv serve over a local project', () => {
  let proj: string;
  let admin: Key;
  let reader: Key;
  let s: Served;
  let c: S3Client;
  const big = randomBytes(3 * MiB, 'serve-big');

  beforeAll(async () => {
    proj = path.join(tmp.make('dv-serve-'), 'weather');
    fs.mkdirSync(proj);
    writeFile(proj, 'data/a.csv', 'x,y\n1,2\n');
    writeFile(proj, 'data/sub/b.txt', 'bee\n');
    writeRandomFile(proj, 'data/big.bin', 3 * MiB, 'serve-big');
    await dvOk(proj, ['init']);
    await dvOk(proj, ['add', 'data', '-m', 'v1']);
    await dvOk(proj, ['tag', 'v1']);
    writeFile(proj, 'data/a.csv', 'x,y\n1,2\n3,4\n');
    await dvOk(proj, ['commit', '-m', 'v2']);
    await dvOk(proj, ['branch', 'staging']);
    admin = await dvJson<Key>(proj, ['keys', 'create', '--read', '*', '--write', 'staging', '--json']);
    reader = await dvJson<Key>(proj, ['keys', 'create', '--read', 'main', '--json']);
    s = await startServe(proj, ['--verbose']);
    c = client(s.url, admin);
  });

  afterAll(async () => {
    c?.destroy();
    if (s) await stopServe(s);
  });

  it('keeps keys private: file mode 0600, secrets never listed or logged', async () => {
    expect(fs.statSync(path.join(proj, '.dv', 'keys.json')).mode & 0o777).toBe(0o600);
    const list = await dvJson<Record<string, unknown>[]>(proj, ['keys', 'list', '--json']);
    expect(list.map((k) => k.id)).toEqual([admin.id, reader.id]);
    expect(JSON.stringify(list)).not.toContain(admin.secret);
    expect((await dvOk(proj, ['keys', 'list'])).stdout).not.toContain(admin.secret);
    const text = (await dvOk(proj, ['keys', 'create', '--read', 'v1'])).stdout;
    expect(text).toMatch(/secret access key: \S{40}/);
  });

  it('serves versions by branch, tag and commit id, with ranges and conditional GETs', async () => {
    expect((await c.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).toEqual(['weather']);
    const top = await c.send(new ListObjectsV2Command({ Bucket: 'weather', Delimiter: '/' }));
    expect(top.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['main/', 'staging/', 'v1/']);
    expect((await get(c, 'v1/data/a.csv')).toString()).toBe('x,y\n1,2\n');
    expect((await get(c, 'main/data/a.csv')).toString()).toBe('x,y\n1,2\n3,4\n');
    const log = await dvJson<{ id: string }[]>(proj, ['log', '--json']);
    expect((await get(c, `${log[1]!.id.slice(0, 8)}/data/a.csv`)).toString()).toBe('x,y\n1,2\n');
    expect((await get(c, 'main~1/data/a.csv')).toString()).toBe('x,y\n1,2\n');
    const mid = 1536 * 1024;
    expect((await get(c, 'main/data/big.bin', `bytes=${mid}-${mid + MiB - 1}`)).equals(big.subarray(mid, mid + MiB))).toBe(true);
    expect((await get(c, 'main/data/big.bin', 'bytes=-10')).equals(big.subarray(big.length - 10))).toBe(true);
    const head = await c.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'main/data/big.bin' }));
    expect(head.ContentLength).toBe(3 * MiB);
    const etag = (await c.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv' }))).ETag;
    expect(await status(c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv', IfNoneMatch: etag })))).toBe(304);
    expect(await status(c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv', IfMatch: '"0000"' })))).toBe(412);
    expect(await status(c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/a.csv', Range: 'bytes=100-200' })))).toBe(416);
    expect(await status(c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'nosuch/data/a.csv' })))).toBe(404);
  });

  it('turns writes to a branch into commits that dv log, dv cat and dv fsck see', async () => {
    const put = await c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'staging/out/result.csv', Body: 'r\n1\n' }));
    expect(put.ETag).toBeTruthy();
    let log = await dvJson<{ message: string }[]>(proj, ['log', 'staging', '--json']);
    expect(log[0]!.message).toMatch(/PutObject out\/result\.csv/);
    expect((await dvOk(proj, ['cat', 'staging:out/result.csv'])).stdout).toBe('r\n1\n');

    await c.send(new CopyObjectCommand({ Bucket: 'weather', Key: 'staging/out/copy.bin', CopySource: 'weather/v1/data/big.bin' }));
    expect((await get(c, 'staging/out/copy.bin')).equals(big)).toBe(true);
    await c.send(new DeleteObjectCommand({ Bucket: 'weather', Key: 'staging/out/copy.bin' }));
    expect(await status(c.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'staging/out/copy.bin' })))).toBe(404);

    // Multipart with real S3 part sizes (5 MiB minimum).
    const parts = [randomBytes(5 * MiB, 'mp1'), randomBytes(MiB + 7, 'mp2')];
    const up = await c.send(new CreateMultipartUploadCommand({ Bucket: 'weather', Key: 'staging/out/mp.bin' }));
    const etags = [];
    for (const [i, p] of parts.entries()) {
      etags.push((await c.send(new UploadPartCommand({ Bucket: 'weather', Key: 'staging/out/mp.bin', UploadId: up.UploadId, PartNumber: i + 1, Body: p }))).ETag);
    }
    await c.send(new CompleteMultipartUploadCommand({
      Bucket: 'weather', Key: 'staging/out/mp.bin', UploadId: up.UploadId,
      MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
    }));
    expect((await get(c, 'staging/out/mp.bin')).equals(Buffer.concat(parts))).toBe(true);

    expect(await status(c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'staging/out/result.csv', Body: 'x', IfNoneMatch: '*' })))).toBe(412);
    expect(await status(c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/x.txt', Body: 'x' })))).toBe(403);
    expect(await status(c.send(new PutObjectCommand({ Bucket: 'weather', Key: 'v1/x.txt', Body: 'x' })))).toBe(405);
    const ro = client(s.url, reader);
    expect(await status(ro.send(new PutObjectCommand({ Bucket: 'weather', Key: 'staging/x.txt', Body: 'x' })))).toBe(403);
    expect(await status(ro.send(new GetObjectCommand({ Bucket: 'weather', Key: 'v1/data/a.csv' })))).toBe(403);
    ro.destroy();

    log = await dvJson<{ message: string }[]>(proj, ['log', 'staging', '-n', '4', '--json']);
    expect(log.map((e) => e.message.split(' ')[2])).toEqual(['CompleteMultipartUpload', 'DeleteObject', 'CopyObject', 'PutObject']);
    const fsck = await dv(proj, ['fsck']);
    expect(fsck.code, fsck.stdout + fsck.stderr).toBe(0);
  });

  it('works with the AWS CLI: ls, cp, sync, presign', async () => {
    const AWS = findTool('aws');
    const home = tmp.make('dv-aws-home-');
    const env = awsEnv(home, admin);
    const aws = (...args: string[]) => run(AWS, ['--endpoint-url', s.url, ...args], { env, maxBuffer: 64 * MiB });
    expect((await aws('s3', 'ls', 's3://weather/')).stdout).toMatch(/PRE main\/[\s\S]*PRE staging\/[\s\S]*PRE v1\//);
    const ls = (await aws('s3', 'ls', '--recursive', 's3://weather/v1/data/')).stdout;
    expect(ls.trim().split('\n').map((l) => l.split(/\s+/).pop())).toEqual(['v1/data/a.csv', 'v1/data/big.bin', 'v1/data/sub/b.txt']);
    await aws('s3', 'cp', 's3://weather/v1/data/big.bin', path.join(home, 'big.bin'), '--only-show-errors');
    expect(fs.readFileSync(path.join(home, 'big.bin')).equals(big)).toBe(true);
    await aws('s3', 'sync', 's3://weather/v1/data/', path.join(home, 'v1'), '--only-show-errors');
    expect(fs.readFileSync(path.join(home, 'v1/sub/b.txt'), 'utf8')).toBe('bee\n');
    expect(fs.readFileSync(path.join(home, 'v1/a.csv'), 'utf8')).toBe('x,y\n1,2\n');
    // Upload through the CLI (it switches to multipart above 8 MiB).
    writeFile(home, 'up/new.txt', 'new\n');
    fs.writeFileSync(path.join(home, 'up/large.bin'), randomBytes(9 * MiB, 'cli-large'));
    await aws('s3', 'sync', path.join(home, 'up'), 's3://weather/staging/cli/', '--only-show-errors');
    expect((await dvOk(proj, ['cat', 'staging:cli/new.txt'])).stdout).toBe('new\n');
    expect((await get(c, 'staging/cli/large.bin')).equals(randomBytes(9 * MiB, 'cli-large'))).toBe(true);
    const url = (await aws('s3', 'presign', 's3://weather/main/data/a.csv', '--expires-in', '60')).stdout.trim();
    const u = new URL(url);
    const r = await rawRequest(s.port, 'GET', u.pathname + u.search);
    expect(r).toMatchObject({ status: 200, body: 'x,y\n1,2\n3,4\n' });
  });

  it('answers hostile requests with S3 errors, never crashes, never commits a cut-off upload', async () => {
    const traversal = await rawRequest(s.port, 'GET', '/weather/main/../../etc/passwd');
    expect(traversal.status).toBe(400);
    expect(traversal.body).toMatch(/<Code>InvalidArgument<\/Code>[\s\S]*<RequestId>/);
    expect((await rawRequest(s.port, 'GET', '/weather/main%2fdata%2fa.csv')).status).toBe(400);
    expect((await rawRequest(s.port, 'GET', '/weather/main/data/a.csv')).body).toMatch(/<Code>AccessDenied<\/Code>/);
    expect((await rawRequest(s.port, 'GET', '/weather/main/data/a.csv', { 'x-big': 'a'.repeat(64 * 1024) })).status).toBe(431);

    // A presigned PUT whose client disconnects half-way through the body.
    const before = (await dvJson<{ id: string }[]>(proj, ['log', 'staging', '-n', '1', '--json']))[0]!.id;
    const signed = await presign(signer(admin.id, admin.secret), { method: 'PUT', path: '/weather/staging/cut.bin' }, new Date(), 300, `127.0.0.1:${s.port}`);
    await new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: s.port, method: 'PUT', path: `${signed.rawPath}?${signed.rawQuery}`, headers: { 'content-length': String(4 * MiB) } });
      req.on('error', () => resolve());
      req.write(randomBytes(MiB, 'cut'), () => setTimeout(() => { req.destroy(); resolve(); }, 100));
    });
    // A reader that goes away mid-stream.
    const r = await c.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/big.bin' }));
    (r.Body as NodeJS.ReadableStream & { destroy(): void }).destroy();

    expect((await get(c, 'main/data/sub/b.txt')).toString()).toBe('bee\n');
    expect(await status(c.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'staging/cut.bin' })))).toBe(404);
    expect((await dvJson<{ id: string }[]>(proj, ['log', 'staging', '-n', '1', '--json']))[0]!.id).toBe(before);
    expect(s.proc.exited()).toBe(false);
    expect(s.stderr()).not.toContain(admin.secret);
    expect(s.stderr()).toMatch(/GET \/weather\/main\/data\/a\.csv 200/);
  });

  it('--anonymous-read and --name; a revoked key is refused at once', async () => {
    const anon = await startServe(proj, ['--anonymous-read', '--name', 'weather-public']);
    try {
      expect(anon.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(await rawRequest(anon.port, 'GET', '/weather-public/v1/data/a.csv')).toMatchObject({ status: 200, body: 'x,y\n1,2\n' });
      expect((await rawRequest(anon.port, 'PUT', '/weather-public/staging/x.txt')).status).toBe(403);
      expect((await rawRequest(anon.port, 'GET', '/weather/v1/data/a.csv')).status).toBe(404);
    } finally {
      expect(await stopServe(anon)).toBe(0);
    }
    const ro = client(s.url, reader);
    expect((await get(ro, 'main/data/sub/b.txt')).toString()).toBe('bee\n');
    await dvOk(proj, ['keys', 'revoke', reader.id]);
    expect(await status(ro.send(new GetObjectCommand({ Bucket: 'weather', Key: 'main/data/sub/b.txt' })))).toBe(403);
    ro.destroy();
  });

  it('shuts down cleanly on SIGTERM and releases its gc lease', async () => {
    expect(fs.readdirSync(path.join(proj, '.dv', 'leases'))).toHaveLength(1);
    expect(await stopServe(s)).toBe(0);
    expect(fs.readdirSync(path.join(proj, '.dv', 'leases'))).toHaveLength(0);
    const r = await dv(proj, ['gc', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).packsProtected).toBe(0);
  });
});

describe('dv serve --remote', () => {
  let s3: S3TestServer;

  beforeAll(async () => { s3 = await startS3rver(); });
  afterAll(async () => { await s3?.stop(); });

  it('serves a pushed repository from the remote alone, within its cache bound', async () => {
    const env = { ...s3.env, DV_REMOTE_SETTLE_MS: '50' };
    const src = tmp.make('dv-serve-src-');
    writeRandomFile(src, 'data/big.bin', 4 * MiB, 'remote-big');
    writeFile(src, 'data/small.txt', 'small\n');
    await dvOk(src, ['init'], { env });
    await dvOk(src, ['add', 'data', '-m', 'v1'], { env });
    await dvOk(src, ['tag', 'v1'], { env });
    await dvOk(src, ['remote', 'add', 'origin', `s3://${s3.bucket}/weather`, '--endpoint', s3.endpoint], { env });
    await dvOk(src, ['push', '--tags'], { env });

    const cloned = path.join(tmp.make('dv-serve-clone-'), 'weather');
    await dvOk(path.dirname(cloned), ['clone', `s3://${s3.bucket}/weather`, cloned, '--endpoint', s3.endpoint], { env });
    fs.rmSync(path.join(cloned, '.dv', 'packs'), { recursive: true });
    fs.mkdirSync(path.join(cloned, '.dv', 'packs'));
    const key = await dvJson<Key>(cloned, ['keys', 'create', '--read', '*', '--write', '*', '--json'], { env });
    const served = await startServe(cloned, ['--remote', 'origin', '--cache-size', '1MiB'], env);
    const rc = client(served.url, key);
    try {
      expect((await get(rc, 'main/data/small.txt')).toString()).toBe('small\n');
      expect((await get(rc, 'v1/data/big.bin')).equals(randomBytes(4 * MiB, 'remote-big'))).toBe(true);
      const mid = 2 * MiB;
      expect((await get(rc, 'main/data/big.bin', `bytes=${mid}-${mid + 99_999}`)).equals(randomBytes(4 * MiB, 'remote-big').subarray(mid, mid + 100_000))).toBe(true);
      expect(await status(rc.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/x.txt', Body: 'x' })))).toBe(403);
      const blocks = path.join(cloned, '.dv', 'cache', 'remote-origin', '.dv', 'cache', 'blocks');
      const du = (d: string): number => fs.readdirSync(d, { withFileTypes: true })
        .reduce((n, e) => n + (e.isDirectory() ? du(path.join(d, e.name)) : fs.statSync(path.join(d, e.name)).size), 0);
      expect(du(blocks)).toBeGreaterThan(0);
      expect(du(blocks)).toBeLessThanOrEqual(MiB);
      expect(fs.readdirSync(path.join(cloned, '.dv', 'packs'))).toEqual([]);
      expect(s3.requests.recent.some((r) => r.startsWith('GET /') && r.includes('/packs/'))).toBe(true);
    } finally {
      rc.destroy();
      expect(await stopServe(served)).toBe(0);
    }
  });
});

// The mainstream S3 clients, unmodified, against a real `dv serve`: the AWS CLI,
// rclone, s3cmd and boto3 (Debian's packages, installed by .ci/run). Each walks what
// a user does: upload a directory, list it, download it back, verify it. These are
// the clients that check ETags as MD5s (rclone check, s3cmd get), so a wrong ETag
// fails here; uploads that change nothing must leave no commits behind, and a sync
// of many files must share commits (group commit).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, TempDirs, dvJson, writeRandomFile } from '../helpers/cli.js';
import { awsEnv, findTool, rcloneEnv, servedProject, stopServe, type Key, type Served } from '../helpers/serve.js';

const run = promisify(execFile);
const MiB = 1 << 20;
const tmp = new TempDirs();
const AWS = findTool('aws');
const RCLONE = findTool('rclone');
const S3CMD = findTool('s3cmd');
const PYTHON = findTool('python3'); // Debian's, which has python3-boto3

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let proj: string;
let key: Key;
let s: Served;
let home: string;
let src: string;

async function commitsOn(branch: string): Promise<number> {
  return (await dvJson<unknown[]>(proj, ['log', branch, '--json'])).length;
}

function httpGet(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      const body: Buffer[] = [];
      res.on('data', (d: Buffer) => { body.push(d); });
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(body)) : reject(new Error(`${res.statusCode} ${Buffer.concat(body)}`))));
    }).on('error', reject);
  });
}

beforeAll(async () => {
  ({ proj, key, s, home } = await servedProject(tmp, 'dv-clients-', 'staging'));
  src = path.join(home, 'src');
  for (let i = 0; i < 30; i++) writeRandomFile(src, `f${String(i).padStart(2, '0')}.bin`, 1000 + i * 97, `c${i}`);
  writeRandomFile(src, 'sub/deep.bin', 3000, 'deep');
  writeRandomFile(home, 'big.bin', 12 * MiB + 5, 'big');
});

afterAll(async () => {
  if (s) await stopServe(s);
  tmp.cleanup();
});

describe('AWS CLI', () => {
  it('cp, sync both ways, ls, presign; ETags are MD5s; a sync shares commits; re-uploading the same bytes commits nothing', async () => {
    const env = awsEnv(home, key);
    const aws = (...args: string[]) => run(AWS, ['--endpoint-url', s.url, ...args], { env, maxBuffer: 64 * MiB });
    const before = await commitsOn('staging');
    await aws('s3', 'sync', src, 's3://weather/staging/aws/');
    const made = (await commitsOn('staging')) - before;
    expect(made).toBeGreaterThan(0);
    expect(made).toBeLessThan(31); // 31 files: group commit shares commits among concurrent PUTs

    const ls = (await aws('s3', 'ls', '--recursive', 's3://weather/staging/aws/')).stdout;
    expect(ls.trim().split('\n')).toHaveLength(31);
    const out = path.join(home, 'aws-out');
    await aws('s3', 'sync', 's3://weather/staging/aws/', out);
    for (const f of ['f00.bin', 'f29.bin', 'sub/deep.bin']) {
      expect(sha256(fs.readFileSync(path.join(out, f)))).toBe(sha256(fs.readFileSync(path.join(src, f))));
    }
    const head = JSON.parse((await aws('s3api', 'head-object', '--bucket', 'weather', '--key', 'staging/aws/f07.bin')).stdout);
    expect(head.ETag).toBe(`"${md5(fs.readFileSync(path.join(src, 'f07.bin')))}"`);

    // A retried upload of what the key already holds leaves no commit.
    const n = await commitsOn('staging');
    await aws('s3', 'cp', path.join(src, 'f07.bin'), 's3://weather/staging/aws/f07.bin');
    await aws('s3', 'cp', path.join(src, 'f07.bin'), 's3://weather/staging/aws/f07.bin');
    expect(await commitsOn('staging')).toBe(n);

    const url = (await aws('s3', 'presign', 's3://weather/staging/aws/sub/deep.bin', '--expires-in', '600')).stdout.trim();
    expect(sha256(await httpGet(url))).toBe(sha256(fs.readFileSync(path.join(src, 'sub/deep.bin'))));
  });
});

describe('rclone', () => {
  it('copy, check and sync both ways, including a multipart upload; a second copy commits nothing', async () => {
    const env = rcloneEnv(home, key, s.url); // no AWS_CA_BUNDLE: rclone refuses a custom bundle on plain http
    const rclone = (...args: string[]) => run(RCLONE, ['--low-level-retries', '1', '--retries', '1', ...args], { env, maxBuffer: 64 * MiB });
    fs.copyFileSync(path.join(home, 'big.bin'), path.join(src, 'big.bin'));
    try {
      const multipart = ['--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M'];
      await rclone('copy', ...multipart, src, 'dv:weather/staging/rc');
      const n = await commitsOn('staging');
      // check compares MD5s: it fails if an ETag is not the MD5 of the content.
      await rclone('check', src, 'dv:weather/staging/rc');
      await rclone('copy', ...multipart, src, 'dv:weather/staging/rc');
      expect(await commitsOn('staging')).toBe(n);
      const out = path.join(home, 'rc-out');
      await rclone('sync', 'dv:weather/staging/rc', out);
      await rclone('check', 'dv:weather/staging/rc', out);
      expect(sha256(fs.readFileSync(path.join(out, 'big.bin')))).toBe(sha256(fs.readFileSync(path.join(home, 'big.bin'))));
      const listed = (await rclone('lsf', '-R', 'dv:weather/staging/rc')).stdout.trim().split('\n');
      expect(listed).toContain('sub/deep.bin');
    } finally {
      fs.rmSync(path.join(src, 'big.bin'));
    }
  });
});

describe('s3cmd', () => {
  it('put (multipart), get without MD5 warnings, sync, ls', async () => {
    const [host, port] = [new URL(s.url).hostname, new URL(s.url).port];
    const cfg = path.join(home, 's3cfg');
    fs.writeFileSync(cfg, [
      '[default]', `access_key = ${key.id}`, `secret_key = ${key.secret}`, `host_base = ${host}:${port}`,
      `host_bucket = ${host}:${port}`, 'use_https = False', 'signature_v2 = False', 'bucket_location = us-east-1', '',
    ].join('\n'));
    const s3cmd = (...args: string[]) => run(S3CMD, ['-c', cfg, '--no-progress', ...args], { env: { PATH: process.env.PATH, HOME: home }, maxBuffer: 64 * MiB });
    const n0 = await commitsOn('staging');
    await s3cmd('put', '--multipart-chunk-size-mb=5', path.join(home, 'big.bin'), 's3://weather/staging/s3c/big.bin');
    expect(await commitsOn('staging')).toBe(n0 + 1);
    const got = path.join(home, 's3c-big.bin');
    const r = await s3cmd('get', 's3://weather/staging/s3c/big.bin', got);
    expect(r.stderr).not.toMatch(/MD5|WARNING/);
    expect(sha256(fs.readFileSync(got))).toBe(sha256(fs.readFileSync(path.join(home, 'big.bin'))));

    await s3cmd('sync', `${src}/`, 's3://weather/staging/s3c/dir/');
    const n1 = await commitsOn('staging');
    const ls = (await s3cmd('ls', '--recursive', 's3://weather/staging/s3c/')).stdout.trim().split('\n');
    expect(ls).toHaveLength(32);
    const back = path.join(home, 's3c-back');
    const g = await s3cmd('sync', 's3://weather/staging/s3c/dir/', `${back}/`);
    expect(g.stderr).not.toMatch(/MD5/);
    expect(sha256(fs.readFileSync(path.join(back, 'f13.bin')))).toBe(sha256(fs.readFileSync(path.join(src, 'f13.bin'))));
    // A put of the same bytes again: no commit.
    await s3cmd('put', path.join(src, 'f13.bin'), 's3://weather/staging/s3c/dir/f13.bin');
    expect(await commitsOn('staging')).toBe(n1);
  });
});

describe('boto3', () => {
  it('paginators, TransferManager multipart up and down, GET by part, presigned PUT/GET, checksums', async () => {
    const script = path.join(REPO_ROOT, 'tests', 'e2e', 'clients', 'boto3_scenario.py');
    // Debian's boto3 1.26 would presign with SigV2 by default: the scenario asks for s3v4, as the README does.
    const r = await run(PYTHON, [script, s.url, 'weather', 'staging/', home], { env: awsEnv(home, key), maxBuffer: 64 * MiB });
    const o = JSON.parse(r.stdout);
    const big = fs.readFileSync(path.join(home, 'big.bin'));
    expect(o.pages).toBe(5);
    expect(o.paged_keys).toHaveLength(31);
    const partMd5s = [0, 1, 2].map((i) => createHash('md5').update(big.subarray(i * 5 * MiB, Math.min((i + 1) * 5 * MiB, big.length))).digest());
    const etag = `"${md5(Buffer.concat(partMd5s))}-3"`;
    expect(o.multipart_etag).toBe(etag);
    expect(o.listed_etag).toBe(etag);
    expect(o.download_sha256).toBe(sha256(big));
    expect(o.part2).toEqual({ status: 206, count: 3, length: 5 * MiB, etag });
    expect(o.presigned_get).toBe('put by url\n');
    const want = createHash('sha256').update('checked\n').digest('base64');
    expect(o.put_checksum).toBe(want);
    expect(o.head_checksum).toBe(want);
    expect(o.put_etag).toBe(`"${md5(Buffer.from('checked\n'))}"`);
  });
});

// Keys with empty segments (`a//b`, `/a`) and object metadata through `dv serve`, as
// boto3 and the AWS CLI use them: put, list (v1 pages, v2 with delimiter), get, copy
// (COPY and REPLACE), multipart, delete; the workspace holds the escaped paths; a fresh
// clone of a pushed remote, and `dv serve --remote`, serve the same keys, headers and
// ETags (MD5 for one part, MD5 of part MD5s `-N` for multipart; the clone has no MD5
// index rows and computes them on first need). Then directory markers
// through dv merge: an empty directory made on a branch arrives on main, and its removal
// merges as a removal.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, TempDirs, dvJson, dvOk, randomBytes, writeFile, writeRandomFile } from '../helpers/cli.js';
import { startS3Server as startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { awsEnv, findTool, servedProject, startServe, stopServe, type Key, type Served } from '../helpers/serve.js';

const run = promisify(execFile);
const tmp = new TempDirs();
const AWS = findTool('aws');
const PYTHON = findTool('python3'); // Debian's, which has python3-boto3
const SCRIPT = path.join(REPO_ROOT, 'tests', 'e2e', 'clients', 'keys_scenario.py');

let proj: string;
let key: Key;
let s: Served;
let home: string;
let s3: S3TestServer;

type Head = [string, Record<string, string>, number, string, boolean?];
interface Seen {
  keys: string[]; v1_paged: string[]; got: string; heads: Record<string, Head>; parts_etag: string;
  copied: Head; replaced: Head; multipart: Head; delimited: string[][]; delimited2: string[][];
}
const md5 = (b: Buffer | string): string => `"${createHash('md5').update(b).digest('hex')}"`;
const MiB = 1 << 20;

const scenario = async (url: string, k: Key, mode: 'write' | 'read'): Promise<Seen> =>
  JSON.parse((await run(PYTHON, [SCRIPT, url, 'weather', mode], { env: awsEnv(home, k) })).stdout) as Seen;
const aws = async (...args: string[]): Promise<string> =>
  (await run(AWS, ['--endpoint-url', s.url, ...args], { env: awsEnv(home, key) })).stdout;

beforeAll(async () => {
  s3 = await startS3rver();
  ({ proj, key, s, home } = await servedProject(tmp, 'dv-keys-', 'staging'));
});

afterAll(async () => {
  if (s) await stopServe(s);
  await s3?.stop();
  tmp.cleanup();
});

describe('keys with empty segments, and object metadata', () => {
  it('round-trip through boto3 and the aws CLI, check out escaped, and serve the same from a fresh clone', async () => {
    await dvOk(proj, ['checkout', 'staging']);
    writeRandomFile(proj, 'data/big.bin', 3 * MiB, 'keys-big'); // several chunks, added by dv add
    await dvOk(proj, ['add', 'data', '-m', 'big']);
    const o = await scenario(s.url, key, 'write');
    const keys = ['staging//lead.csv', 'staging/c//b', 'staging/c//r', 'staging/data/a.csv', 'staging/data/big.bin', 'staging/dirs/empty/', 'staging/e/parts.bin', 'staging/full/',
      'staging/k/%', 'staging/k///mp.bin', 'staging/k//b', 'staging/m//'];
    // S3 order (UTF-8 bytes): `//` sorts by its '/', not by the stored `%`.
    expect(o.keys).toEqual(keys);
    expect(o.v1_paged).toEqual(o.keys);
    expect(o.delimited).toEqual([['staging/k/%'], ['staging/k//']]);
    expect(o.delimited2).toEqual([['staging/k//b'], ['staging/k///']]);
    expect(o.got).toBe('empty segment\n');
    const body = md5('empty segment\n');
    expect(o.heads['staging/k//b']).toEqual(['text/x-dv', { origin: 'sensor-7' }, 14, body, true]);
    expect(o.copied).toEqual(['text/x-dv', { origin: 'sensor-7' }, 14, body]);
    expect(o.replaced).toEqual(['text/plain', { x: 'y' }, 14, body]);
    expect(o.multipart.slice(0, 3)).toEqual(['application/x-mp', { part: '1' }, 3]);
    expect(o.heads['staging/full/']).toEqual(['application/octet-stream', {}, 24, md5('a dir/ key with content\n'), true]);
    expect(o.heads['staging//lead.csv']).toEqual(['text/plain', {}, 5, md5('lead\n'), true]);
    expect(o.heads['staging/data/a.csv']).toEqual(['text/csv', {}, 8, md5('x,y\n1,2\n'), true]); // added by dv add: by extension
    expect(o.heads['staging/data/big.bin']).toEqual(['application/octet-stream', {}, 3 * MiB, md5(randomBytes(3 * MiB, 'keys-big')), true]);
    expect(o.heads['staging/e/parts.bin']).toEqual(['application/octet-stream', {}, 6 * MiB, o.parts_etag, true]);
    expect(await aws('s3', 'cp', 's3://weather/staging/k//b', '-')).toBe('empty segment\n');
    expect(JSON.parse(await aws('s3api', 'head-object', '--bucket', 'weather', '--key', 'staging//lead.csv')).ContentType).toBe('text/plain');
    // A file and a directory of one name stay refused, with their code.
    await expect(aws('s3api', 'put-object', '--bucket', 'weather', '--key', 'staging/k//b/c')).rejects.toThrow(/InvalidRequest/);

    // The workspace holds the escaped paths: "" is `%`, `%` is `%%`.
    await dvOk(proj, ['checkout', 'staging']);
    expect(fs.readFileSync(path.join(proj, 'k/%/b'), 'utf8')).toBe('empty segment\n');
    expect(fs.readFileSync(path.join(proj, 'k/%%'), 'utf8')).toBe('percent\n');
    expect(fs.readFileSync(path.join(proj, '%/lead.csv'), 'utf8')).toBe('lead\n');
    expect(fs.readFileSync(path.join(proj, 'full/%'), 'utf8')).toBe('a dir/ key with content\n');
    expect(fs.readdirSync(path.join(proj, 'm/%'))).toEqual([]);
    expect((await dvJson<{ path: string }[]>(proj, ['ls', 'staging:k/', '--json'])).map((e) => e.path)).toEqual(['k/%%', 'k/%']);

    const env = { ...s3.env, DV_REMOTE_SETTLE_MS: '50' };
    await dvOk(proj, ['remote', 'add', 'origin', `s3://${s3.bucket}/weather`, '--endpoint', s3.endpoint], { env });
    await dvOk(proj, ['push', '--all'], { env });
    const cloned = path.join(tmp.make('dv-keys-clone-'), 'weather');
    await dvOk(path.dirname(cloned), ['clone', `s3://${s3.bucket}/weather`, cloned, '--endpoint', s3.endpoint, '-b', 'staging'], { env });
    const key2 = await dvJson<Key>(cloned, ['keys', 'create', '--read', '*', '--json'], { env });
    for (const args of [[], ['--remote', 'origin']]) {
      const s2 = await startServe(cloned, args, env);
      try {
        const c = await scenario(s2.url, key2, 'read');
        expect(c.keys).toEqual(o.keys);
        expect(c.v1_paged).toEqual(o.keys);
        const staging = (h: Record<string, Head>) => Object.fromEntries(Object.entries(h).filter(([k]) => k.startsWith('staging/')));
        expect(staging(c.heads)).toEqual(staging(o.heads)); // (main is not in every one of them)
      } finally {
        expect(await stopServe(s2)).toBe(0);
      }
    }
  }, 240_000);

  it('dv merge brings an empty directory made through dv serve, and merges its removal', async () => {
    await dvOk(proj, ['checkout', 'main']);
    writeFile(proj, 'data/main.csv', 'm\n');
    await dvOk(proj, ['add', 'data', '-m', 'main moves on']); // not a fast-forward
    expect((await dvJson<{ status: string }>(proj, ['merge', 'staging', '--json'])).status).toBe('merged');
    expect(fs.readdirSync(path.join(proj, 'dirs/empty'))).toEqual([]);
    expect(fs.readdirSync(path.join(proj, 'm/%'))).toEqual([]);
    const listed = async (prefix: string): Promise<string[]> =>
      ((JSON.parse(await aws('s3api', 'list-objects-v2', '--bucket', 'weather', '--prefix', prefix, '--output', 'json') || '{}') as
        { Contents?: { Key: string }[] }).Contents ?? []).map((c) => c.Key);
    expect(await listed('main/dirs/')).toEqual(['main/dirs/empty/']);

    await aws('s3api', 'delete-object', '--bucket', 'weather', '--key', 'staging/dirs/empty/');
    writeFile(proj, 'data/main2.csv', 'm2\n');
    await dvOk(proj, ['commit', '-m', 'main again']); // (dv add of a path drops empty directories elsewhere: not yet fixed)
    expect((await dvJson<{ status: string }>(proj, ['merge', 'staging', '--json'])).status).toBe('merged');
    expect(await listed('main/dirs/')).toEqual([]);
    expect(fs.existsSync(path.join(proj, 'dirs/empty'))).toBe(false);
    expect(fs.readdirSync(path.join(proj, 'm/%'))).toEqual([]); // untouched on both sides since: kept
  }, 240_000);
});

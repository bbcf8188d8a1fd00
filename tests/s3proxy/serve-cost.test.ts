// What one dv serve request costs must follow the page (or the object), not the size of
// the version: counted, not timed. Two versions of one real repository differ tenfold in
// directories (2 vs 20 of 30 files, made by dv add); on a fresh server each, a ListObjectsV2 page and a
// Range GET read the same number of tree objects, and a page's ETags take one read of the
// MD5 index whatever its length (and none when asked again). ETags are checked against
// the MD5 of each file's content: the batched lookup must put each answer on its own key.
// And the in-memory MD5 cache: repeats from memory, one lookup for the missing, bounded;
// the server's index connection is memory-mapped (a fresh page's MD5 leaves: no read call each).
import { createHash } from 'node:crypto';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ops, resetOps } from '../../src/repo/opcount.js';
import { Repo } from '../../src/repo/repo.js';
import { KeyStore } from '../../src/s3proxy/keys.js';
import { Md5Cache } from '../../src/s3proxy/md5-cache.js';
import { RepoBackend } from '../../src/s3proxy/repo-backend.js';
import { startS3Server } from '../../src/s3proxy/server.js';
import { dvOk, makeTempDir, removeDir, TEST_AUTHOR, writeFile } from '../helpers/cli.js';

process.env.DV_AUTHOR = TEST_AUTHOR;
const PER_DIR = 30;
const content = (d: number, i: number): string => `row ${d}-${i}\n`;
const name = (d: number, i: number): string => `data/d${String(d).padStart(2, '0')}/f${String(i).padStart(3, '0')}.txt`;
let root: string;

beforeAll(async () => {
  root = makeTempDir('dv-serve-cost-');
  const write = (from: number, to: number) => {
    for (let d = from; d < to; d++) for (let i = 0; i < PER_DIR; i++) writeFile(root, name(d, i), content(d, i));
  };
  write(0, 2);
  await dvOk(root, ['init']);
  await dvOk(root, ['add', 'data', '-m', 'two directories']);
  await dvOk(root, ['branch', 'small']);
  write(2, 20);
  await dvOk(root, ['add', 'data', '-m', 'twenty directories']);
});

afterAll(() => removeDir(root));

interface Counted { treesRead: number; md5Reads: number }

/** Runs `fn` against a freshly opened repository and server (no tree cached), counting. */
async function cold<T>(fn: (client: S3Client) => Promise<T>): Promise<{ out: T; counts: Counted }> {
  const repo = Repo.open(root);
  const backend = new RepoBackend(repo, { name: 'cost', readOnly: 'counting' });
  const keys = new KeyStore(path.join(repo.dvDir, 'keys.json'));
  const k = keys.create({ read: ['*'], write: [] });
  const server = await startS3Server(backend, { keys });
  const client = new S3Client({
    endpoint: server.url, forcePathStyle: true, region: 'us-east-1', maxAttempts: 1,
    credentials: { accessKeyId: k.id, secretAccessKey: k.secret },
  });
  try {
    resetOps();
    const out = await fn(client);
    return { out, counts: { treesRead: ops.treesRead, md5Reads: ops.md5Reads } };
  } finally {
    client.destroy();
    await server.close();
    backend.close();
    repo.close();
  }
}

const page = (client: S3Client, ref: string, startAfter?: string) =>
  client.send(new ListObjectsV2Command({ Bucket: 'cost', Prefix: `${ref}/data/`, MaxKeys: 20, StartAfter: startAfter }));

const md5 = (s: string): string => `"${createHash('md5').update(s).digest('hex')}"`;

describe('dv serve: per-request work does not grow with the version', () => {
  it('a list page reads the same trees and one batch of ETags in a 10x larger version', async () => {
    // A page of 20 keys from position `from` (directory-major) of version `ref`.
    const run = (ref: string, from: number) => cold(async (client) => {
      const after = from ? `${ref}/${name(Math.floor((from - 1) / PER_DIR), (from - 1) % PER_DIR)}` : undefined;
      const first = await page(client, ref, after);
      const readsAfterFirst = ops.md5Reads;
      const again = await page(client, ref, after);
      expect(ops.md5Reads).toBe(readsAfterFirst); // the repeat is answered from memory
      expect(again.Contents).toEqual(first.Contents);
      const want = Array.from({ length: 20 }, (_, j) => {
        const [d, i] = [Math.floor((from + j) / PER_DIR), (from + j) % PER_DIR];
        return { Key: `${ref}/${name(d, i)}`, ETag: md5(content(d, i)), Size: content(d, i).length };
      });
      expect(first.Contents?.map((c) => ({ Key: c.Key, ETag: c.ETag, Size: c.Size }))).toEqual(want);
      expect(first.IsTruncated).toBe(true);
    });
    const small = await run('small', 0);
    const big = await run('main', 0);
    // root, data/ and d00 (the page stops one key past its end, still in d00)
    expect(big.counts).toEqual(small.counts);
    expect(big.counts).toEqual({ treesRead: 3, md5Reads: 1 });
    // From the 21st file of a directory on: the page spans it and the next one.
    const smallMid = await run('small', 21);
    const bigMid = await run('main', 10 * PER_DIR + 21);
    expect(bigMid.counts).toEqual(smallMid.counts);
    expect(bigMid.counts).toEqual({ treesRead: 4, md5Reads: 1 });
  });

  it('a Range GET reads one tree per directory level and one MD5 record, in either version', async () => {
    const get = (key: string) => cold(async (client) => {
      const r = await client.send(new GetObjectCommand({ Bucket: 'cost', Key: key, Range: 'bytes=0-3' }));
      return { body: await r.Body!.transformToString(), etag: r.ETag };
    });
    const small = await get(`small/${name(1, 7)}`);
    const big = await get(`main/${name(17, 7)}`);
    expect(small.out).toEqual({ body: 'row ', etag: md5(content(1, 7)) });
    expect(big.out).toEqual({ body: 'row ', etag: md5(content(17, 7)) });
    expect(big.counts).toEqual(small.counts);
    expect(big.counts).toEqual({ treesRead: 3, md5Reads: 1 });
  });
});

describe('dv serve: the index is read through a memory map', () => {
  it('maps the connection it serves from; a command\'s connection stays unmapped', () => {
    const repo = Repo.open(root);
    try {
      expect(repo.db.pragma('mmap_size', { simple: true })).toBe(0);
      const backend = new RepoBackend(repo, { name: 'cost', readOnly: 'counting' });
      expect(repo.db.pragma('mmap_size', { simple: true })).toBe(1 << 30);
      backend.close();
    } finally {
      repo.close();
    }
  });
});

describe('Md5Cache', () => {
  it('answers repeats from memory, looks up only the missing ones in one call, drops what went unused longest', async () => {
    const cache = new Md5Cache(2);
    const calls: string[][] = [];
    const lookup = async (files: { hash: string }[]) => {
      calls.push(files.map((f) => f.hash));
      return files.map((f) => `md5-${f.hash}`);
    };
    const f = (hash: string) => ({ hash, size: 0, chunks: [] });
    expect(await cache.md5s([f('a'), f('b')], lookup)).toEqual(['md5-a', 'md5-b']);
    expect(await cache.md5s([f('b'), f('a')], lookup)).toEqual(['md5-b', 'md5-a']); // a used last
    expect(await cache.md5s([f('c'), f('a')], lookup)).toEqual(['md5-c', 'md5-a']); // evicts b
    expect(await cache.md5s([f('b'), f('a')], lookup)).toEqual(['md5-b', 'md5-a']);
    expect(calls).toEqual([['a', 'b'], ['c'], ['b']]);
  });
});

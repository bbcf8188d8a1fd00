// The proxy over a REAL repository (SQLite index, packs on disk), in-process: range
// locality counted at the pack reader, concurrent writers, conditional writes,
// multipart checksums, commit-path rules, gc protection of uploads in flight, and
// serving a remote through the block cache (s3rver as the remote).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand,
  ListObjectsV2Command, PutObjectCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fsck } from '../../src/repo/fsck.js';
import { gc } from '../../src/repo/gc.js';
import { Repo } from '../../src/repo/repo.js';
import { addRemote } from '../../src/repo/remote/config.js';
import { push } from '../../src/repo/remote/push.js';
import { KeyStore, type KeyRecord } from '../../src/s3proxy/keys.js';
import { RemoteMirror } from '../../src/s3proxy/remote-mirror.js';
import { RepoBackend } from '../../src/s3proxy/repo-backend.js';
import { startS3Server, type RunningS3Server } from '../../src/s3proxy/server.js';
import { LocalPackReader, type PackReader } from '../../src/store/blobstore.js';
import { DvError } from '../../src/store/errors.js';
import { blake3Hex } from '../../src/store/hash.js';
import { startS3Server as startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { SeededRandom, TEST_AUTHOR } from '../helpers/cli.js';

process.env.DV_AUTHOR = TEST_AUTHOR;
const MiB = 1 << 20;
const dirs: string[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

function tempDir(prefix = 'dv-rb-'): string {
  const d = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  dirs.push(d);
  return d;
}

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Counts pack reads: what a Range request really touches. */
class CountingReader implements PackReader {
  reads = 0;
  bytes = 0;
  constructor(private inner: PackReader) {}
  async read(pack: string, offset: number, length: number): Promise<Buffer> {
    this.reads++;
    this.bytes += length;
    return this.inner.read(pack, offset, length);
  }
  close(): void { this.inner.close(); }
}

interface Served {
  root: string;
  repo: Repo;
  backend: RepoBackend;
  server: RunningS3Server;
  admin: KeyRecord;
  client: S3Client;
}

async function serve(repo: Repo, opts: { readOnly?: string; name?: string; keysDir?: string } = {}): Promise<Served> {
  const backend = new RepoBackend(repo, { name: opts.name ?? 'weather', readOnly: opts.readOnly });
  const keys = new KeyStore(path.join(opts.keysDir ?? repo.dvDir, 'keys.json'));
  const admin = keys.create({ read: ['*'], write: ['*'] });
  const server = await startS3Server(backend, { keys, minPartSize: 64 * 1024 });
  const client = new S3Client({
    endpoint: server.url, forcePathStyle: true, region: 'us-east-1', maxAttempts: 1,
    credentials: { accessKeyId: admin.id, secretAccessKey: admin.secret },
  });
  cleanups.push(async () => { client.destroy(); await server.close(); backend.close(); });
  return { root: repo.root, repo, backend, server, admin, client };
}

async function store(repo: Repo, data: Buffer) {
  return repo.storeStream(Readable.from([data]));
}

async function body(client: S3Client, key: string, range?: string): Promise<Buffer> {
  const r = await client.send(new GetObjectCommand({ Bucket: 'weather', Key: key, Range: range }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

describe('RepoBackend over a real repository', () => {
  let s: Served;
  let counter: CountingReader;
  const big = new SeededRandom('big').bytes(8 * MiB);

  beforeAll(async () => {
    const root = tempDir();
    Repo.init(root).close();
    const packs = path.join(root, '.dv', 'packs');
    counter = new CountingReader(new LocalPackReader(packs));
    const repo = Repo.open(root, { packReader: counter });
    cleanups.push(() => repo.close());
    const changes = new Map([
      ['data/big.bin', await store(repo, big)],
      ['data/a.csv', await store(repo, Buffer.from('x,y\n1,2\n'))],
      ['data/sub/b.txt', await store(repo, Buffer.from('bee'))],
    ]);
    const c1 = await repo.commitChanges('main', changes, 'v1');
    repo.refs.set('tags/v1', c1);
    repo.refs.set('heads/staging', c1);
    s = await serve(repo);
  });

  it('lists refs as common prefixes and serves files of a version by tag and commit prefix', async () => {
    const root = await s.client.send(new ListObjectsV2Command({ Bucket: 'weather', Delimiter: '/' }));
    expect(root.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['main/', 'staging/', 'v1/']);
    const files = await s.client.send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: 'v1/data/' }));
    expect(files.Contents?.map((c) => c.Key)).toEqual(['v1/data/a.csv', 'v1/data/big.bin', 'v1/data/sub/b.txt']);
    const id = s.repo.refs.get('tags/v1')!;
    expect((await body(s.client, `${id.slice(0, 10)}/data/a.csv`)).toString()).toBe('x,y\n1,2\n');
    await expect(s.client.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'nosuchref/data/a.csv' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    await expect(s.client.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'main/data/sub' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  });

  it('a Range read in the middle of a multi-MiB file reads only the chunks that overlap it', async () => {
    await s.client.send(new HeadObjectCommand({ Bucket: 'weather', Key: 'main/data/big.bin' })); // warm trees
    const entry = (await s.backend.stat('weather', s.repo.refs.get('heads/main')!, 'data/big.bin'))!;
    expect(entry.chunks.length).toBeGreaterThan(40);
    const start = 4 * MiB + 12345;
    const end = start + 200 * 1024; // exclusive
    let off = 0;
    let overlapping = 0;
    for (const [, len] of entry.chunks) {
      if (off < end && off + len > start) overlapping++;
      off += len;
    }
    counter.reads = 0;
    counter.bytes = 0;
    const got = await body(s.client, 'main/data/big.bin', `bytes=${start}-${end - 1}`);
    expect(got.equals(big.subarray(start, end))).toBe(true);
    // Chunks stored back to back are read together: at most one read per chunk, and
    // never a byte outside the chunks that overlap the range.
    expect(counter.reads).toBeGreaterThanOrEqual(1);
    expect(counter.reads).toBeLessThanOrEqual(overlapping);
    off = 0;
    let needed = 0;
    for (const [, len] of entry.chunks) {
      if (off < end && off + len > start) needed += len;
      off += len;
    }
    expect(counter.bytes).toBe(needed);
  });

  it('concurrent writers to one branch all land (no lost update) and fsck stays clean', async () => {
    const before = s.repo.refs.get('heads/staging')!;
    await Promise.all(Array.from({ length: 8 }, (_, i) =>
      s.client.send(new PutObjectCommand({ Bucket: 'weather', Key: `staging/out/part-${i}.txt`, Body: `part ${i}\n` }))));
    const listed = await s.client.send(new ListObjectsV2Command({ Bucket: 'weather', Prefix: 'staging/out/' }));
    expect(listed.Contents?.map((c) => c.Key)).toEqual(Array.from({ length: 8 }, (_, i) => `staging/out/part-${i}.txt`));
    let id = s.repo.refs.get('heads/staging')!;
    let n = 0;
    while (id !== before) { id = (await s.repo.readCommit(id)).parents[0]!; n++; }
    // Group commit: the 8 writes share commits (folded into the open group), never more than 8.
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(8);
    expect((await fsck(s.repo)).ok).toBe(true);
  });

  it('If-None-Match: * lets exactly one of several racing writers create a key', async () => {
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) =>
      s.client.send(new PutObjectCommand({ Bucket: 'weather', Key: 'staging/once.txt', Body: `writer ${i}`, IfNoneMatch: '*' }))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode).toBe(412);
  });

  it('multipart uploads are concatenated and carry the BLAKE3 of the whole content', async () => {
    const parts = [new SeededRandom('p1').bytes(300 * 1024), new SeededRandom('p2').bytes(200 * 1024), Buffer.from('tail')];
    const key = 'staging/mp/whole.bin';
    const up = await s.client.send(new CreateMultipartUploadCommand({ Bucket: 'weather', Key: key }));
    const etags: string[] = [];
    for (const [i, p] of parts.entries()) {
      etags.push((await s.client.send(new UploadPartCommand({ Bucket: 'weather', Key: key, UploadId: up.UploadId, PartNumber: i + 1, Body: p }))).ETag!);
    }
    await s.client.send(new CompleteMultipartUploadCommand({
      Bucket: 'weather', Key: key, UploadId: up.UploadId,
      MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
    }));
    const whole = Buffer.concat(parts);
    expect((await body(s.client, key)).equals(whole)).toBe(true);
    const entry = (await s.backend.stat('weather', s.repo.refs.get('heads/staging')!, 'mp/whole.bin'))!;
    expect(entry.hash).toBe(blake3Hex(whole));
    expect((await fsck(s.repo)).ok).toBe(true);
  });

  it('commitChanges refuses .dv/.git paths and, when asked, branches that do not exist', async () => {
    const f = await store(s.repo, Buffer.from('x'));
    for (const p of ['data/.git/config', '.dv/config.json', 'a/../b', 'a//b']) {
      await expect(s.repo.commitChanges('staging', new Map([[p, f]]), 'bad')).rejects.toThrow(DvError);
    }
    await expect(s.repo.commitChanges('nobranch', new Map([['x', f]]), 'm', { createBranch: false })).rejects.toThrow(/no branch/);
    expect(s.repo.refs.get('heads/nobranch')).toBeUndefined();
  });

  it('a key that would be both a file and a directory is refused with 400 and changes nothing', async () => {
    const before = s.repo.refs.get('heads/staging')!;
    for (const Key of ['staging/data/sub', 'staging/data/a.csv/inner.txt']) {
      await expect(s.client.send(new PutObjectCommand({ Bucket: 'weather', Key, Body: 'clash' })))
        .rejects.toMatchObject({ name: 'InvalidRequest', $metadata: { httpStatusCode: 400 } });
    }
    expect(s.repo.refs.get('heads/staging')).toBe(before);
    expect((await body(s.client, 'staging/data/sub/b.txt')).toString()).toBe('bee');
    expect((await body(s.client, 'staging/data/a.csv')).toString()).toBe('x,y\n1,2\n');
  });
});

describe('gc and uploads in flight', () => {
  it('keeps packs written since a running server began an upload; collects them once it is gone', async () => {
    const root = tempDir();
    const repo = Repo.init(root);
    cleanups.push(() => repo.close());
    await repo.commitChanges('main', new Map([['data/a', await store(repo, Buffer.from('a'))]]), 'v1');
    const backend = new RepoBackend(repo, { name: 'weather' });
    // As a multipart part: stored, referenced by nothing until the upload completes.
    const part = await backend.storeStream('weather', Readable.from([new SeededRandom('part').bytes(512 * 1024)]));
    const r1 = await gc(repo);
    expect(r1.packsProtected).toBeGreaterThanOrEqual(1);
    expect(r1.objectsDeleted).toBe(0);
    const done = await backend.commit('weather', 'main', new Map([['data/part.bin', part]]), 'complete');
    expect(done.time).toBeInstanceOf(Date);
    expect((await fsck(repo)).ok).toBe(true);

    // A lease left by a dead process protects nothing and is removed.
    const stale = path.join(repo.dvDir, 'leases', 'serve-999999-dead.json');
    fs.writeFileSync(stale, JSON.stringify({ pid: 999999, host: os.hostname(), command: 'serve', protectSince: new Date(0).toISOString(), renewed: new Date().toISOString() }));
    const orphan = await backend.storeStream('weather', Readable.from([Buffer.from('never committed')]));
    backend.close();
    const r2 = await gc(repo);
    expect(fs.existsSync(stale)).toBe(false);
    expect(r2.packsProtected).toBe(0);
    expect(r2.objectsDeleted).toBeGreaterThanOrEqual(1);
    expect(repo.blobs.has(Buffer.from(orphan.chunks[0]![0], 'hex'))).toBe(false);

    // The commit of an upload whose chunks gc took meanwhile fails and leaves the branch alone.
    const head = repo.refs.get('heads/main');
    const again = new RepoBackend(repo, { name: 'weather' });
    await expect(again.commit('weather', 'main', new Map([['data/lost', orphan]]), 'late')).rejects.toThrow(/removed from the store \(by dv gc\).*upload it again/);
    expect(repo.refs.get('heads/main')).toBe(head);
    again.close();
  });
});

describe('serving a remote (index from pack tables, block cache)', () => {
  let s3: S3TestServer;
  const big = new SeededRandom('remote-big').bytes(6 * MiB);

  beforeAll(async () => {
    s3 = await startS3rver();
    Object.assign(process.env, s3.env, { DV_REMOTE_SETTLE_MS: '50' });
    cleanups.push(() => s3.stop());
  });

  it('serves every file with ranged GETs only, keeps the cache under its bound, refuses writes', async () => {
    const src = Repo.init(tempDir());
    cleanups.push(() => src.close());
    await src.commitChanges('main', new Map([
      ['data/big.bin', await store(src, big)],
      ['data/small.txt', await store(src, Buffer.from('small'))],
    ]), 'v1');
    src.refs.set('tags/v1', src.refs.get('heads/main')!);
    await addRemote(src, 'origin', `s3://${s3.bucket}/weather`, { endpoint: s3.endpoint });
    await push(src, { remote: 'origin', tags: true });

    // A project that only knows the remote: no packs, no refs.
    const proj = Repo.init(tempDir('dv-rb-proj-'));
    await addRemote(proj, 'origin', `s3://${s3.bucket}/weather`, { endpoint: s3.endpoint });
    proj.close();
    const bound = 2 * MiB;
    const mirror = await RemoteMirror.open(proj.root, { cacheBytes: bound, blockSize: 256 * 1024 });
    cleanups.push(() => mirror.close());
    const s = await serve(mirror.repo, { readOnly: 'read-only', keysDir: path.join(proj.root, '.dv') });

    expect((await body(s.client, 'main/data/small.txt')).toString()).toBe('small');
    expect((await body(s.client, 'v1/data/big.bin')).equals(big)).toBe(true);
    const mid = 3 * MiB;
    const fetchedBefore = mirror.cache.stats.fetched;
    expect((await body(s.client, 'main/data/big.bin', `bytes=${mid}-${mid + MiB - 1}`)).equals(big.subarray(mid, mid + MiB))).toBe(true);
    expect(mirror.cache.stats.fetched - fetchedBefore).toBeLessThanOrEqual(MiB + 2 * 256 * 1024 + 4 * 256 * 1024);
    const blocks = path.join(mirror.repo.dvDir, 'cache', 'blocks');
    const du = (d: string): number => fs.readdirSync(d, { withFileTypes: true })
      .reduce((n, e) => n + (e.isDirectory() ? du(path.join(d, e.name)) : fs.statSync(path.join(d, e.name)).size), 0);
    expect(du(blocks)).toBeLessThanOrEqual(bound);
    expect(mirror.cache.stats.evicted).toBeGreaterThan(0);

    // A damaged cached block is dropped and fetched again.
    const some = fs.readdirSync(blocks).flatMap((d) => fs.readdirSync(path.join(blocks, d)).map((f) => path.join(blocks, d, f)));
    for (const f of some) fs.writeFileSync(f, Buffer.alloc(fs.statSync(f).size, 7));
    mirror.cache.close(); // forget the in-memory copies too
    expect((await body(s.client, 'main/data/big.bin')).equals(big)).toBe(true);

    await expect(s.client.send(new PutObjectCommand({ Bucket: 'weather', Key: 'main/x.txt', Body: 'x' })))
      .rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });

    // A push after the start shows up at the next sync.
    await src.commitChanges('main', new Map([['data/new.txt', await store(src, Buffer.from('new'))]]), 'v2');
    await push(src, { remote: 'origin' });
    await mirror.sync();
    expect((await body(s.client, 'main/data/new.txt')).toString()).toBe('new');
  });
});

// The index writes of a first add (src/store/new-ids.ts, src/repo/etags.ts), on real
// repositories: blobs put into an empty index are found again after their packs are
// sealed (the Bloom filter only ever spares lookups of new ids), a blob another
// connection indexed is not written twice once data_version shows the write, and MD5
// records held in memory are found before any flush, all written, and found on reopen.
import crypto from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { BlobType } from '../../src/store/packfile.js';
import { countBlobs, RepoFixtures } from '../helpers/repo.js';

const fx = new RepoFixtures();
afterAll(() => fx.closeAll());

const packCount = (db: { prepare(s: string): { pluck(): { get(): unknown } } }) => db.prepare('SELECT count(*) FROM packs').pluck().get() as number;

it('finds what it indexed into an empty index, and what another connection indexed', async () => {
  const { root, repo } = await fx.create();
  const blobs = Array.from({ length: 1000 }, (_, i) => Buffer.from(`blob ${i}`));
  for (const b of blobs) await repo.blobs.put(BlobType.Chunk, b);
  repo.blobs.flush();
  expect(countBlobs(repo)).toBe(1000);
  const packs = packCount(repo.db);
  // Indexed now (not in an open pack): every one is known, none is written again.
  for (const b of blobs) await repo.blobs.put(BlobType.Chunk, b);
  repo.blobs.flush();
  expect(countBlobs(repo)).toBe(1000);
  expect(packCount(repo.db)).toBe(packs);

  const other = fx.reopen(root);
  const theirs = Buffer.from('indexed by another process');
  const theirId = await other.blobs.put(BlobType.Chunk, theirs);
  other.blobs.flush();
  expect(repo.blobs.has(theirId)).toBe(true); // has() is exact at once: callers rely on it
  // The first store notices the other connection's write within a few hundred puts.
  for (let i = 0; i < 300; i++) await repo.blobs.put(BlobType.Chunk, Buffer.from(`later ${i}`));
  const id = await repo.blobs.put(BlobType.Chunk, theirs);
  const mine = await repo.blobs.put(BlobType.Chunk, Buffer.from('put with it'));
  repo.blobs.flush();
  expect(repo.blobs.has(id)).toBe(true);
  // The pack written with it holds only the new blobs: the other's was found, not copied.
  expect(repo.db.prepare('SELECT blobs FROM packs WHERE id = (SELECT pack FROM blobs WHERE id = ?)').pluck().get(mine)).toBe(301);
  expect(await repo.blobs.get(id)).toEqual(theirs);
});

it('keeps MD5 records held in memory findable, and writes them all', async () => {
  const { root, repo } = await fx.create();
  const recs = Array.from({ length: 2000 }, (_, i) => [crypto.randomBytes(32).toString('hex'), crypto.createHash('md5').update(String(i)).digest('hex')] as const);
  for (const [h, m] of recs) repo.md5s.record(h, m);
  for (const [h, m] of recs) expect(repo.md5s.get(h)).toBe(m); // held in memory: the first lookup writes them
  expect(repo.md5s.get(crypto.randomBytes(32).toString('hex'))).toBeUndefined();
  repo.md5s.flush();
  expect(repo.db.prepare('SELECT count(*) FROM file_md5').pluck().get()).toBe(2000);
  const again = fx.reopen(root);
  for (const [h, m] of recs.slice(0, 50)) expect(again.md5s.get(h)).toBe(m);
});

// `dv add` of large files through the real CLI: past the first pack the pack writes,
// pack hashing and seals run on the pack thread, and a large file's MD5 and BLAKE3 on
// the MD5 thread, hashed in place from the shared read buffers. What is stored must be
// what was read: file checksums, chunk ids (fsck), pack ids (the BLAKE3 of each pack
// file), the MD5s kept for ETags, dedup against a pack still being written, and a
// checkout that restores the bytes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { blake3Hex } from '../../src/store/hash.js';
import { ageFiles, dvJson, dvOk, ensureBuilt, sha256File, TempDirs, writeFile, writeRandomFile } from '../helpers/cli.js';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

const MiB = 1 << 20;

it('stores large files exactly as read, with their checksums, MD5s and pack ids, deduplicated, and restores them', async () => {
  ensureBuilt();
  const root = dirs.make();
  await dvOk(root, ['init', '-q']);
  // 40 MiB, announced to the store as it starts, goes to packs written by the pack thread from
  // the first on; b.bin repeats a.bin, so its chunks are found in both, the first still sealing
  // or sealed, the second still open.
  writeRandomFile(root, 'data/a.bin', 40 * MiB + 12345, 'large-a');
  fs.copyFileSync(path.join(root, 'data/a.bin'), path.join(root, 'data/b.bin'));
  writeRandomFile(root, 'data/c.bin', 3 * MiB + 7, 'large-c');
  writeFile(root, 'data/s.txt', 'small\n');
  // Mid-sized files: MD5 on the thread, recorded later (the ingest does not wait for it),
  // side by side where the CPU can (md5-worker.ts): two full groups of 16 and a part one.
  const MID = 40;
  for (let i = 0; i < MID; i++) writeRandomFile(root, `data/m/${i}.bin`, 100_000 + i * 7919, `mid-${i}`);
  ageFiles(path.join(root, 'data'));
  const files = ['a.bin', 'b.bin', 'c.bin', 's.txt', ...Array.from({ length: MID }, (_, i) => `m/${i}.bin`)];
  const content = new Map(files.map((f) => [f, fs.readFileSync(path.join(root, 'data', f))]));
  await dvOk(root, ['add', 'data', '-q']);

  type Listed = { path: string; hash?: string; size?: number }[];
  const listed = [...await dvJson<Listed>(root, ['ls', '--json', 'HEAD:data']), ...await dvJson<Listed>(root, ['ls', '--json', 'HEAD:data/m'])];
  for (const f of files) {
    const e = listed.find((x) => x.path === `data/${f}`)!;
    expect(e.size, f).toBe(content.get(f)!.length);
    expect(e.hash, f).toBe(blake3Hex(content.get(f)!));
  }

  const fsck = await dvJson<{ ok: boolean; errors: unknown[] }>(root, ['fsck', '--json']);
  expect(fsck.errors).toEqual([]);
  expect(fsck.ok).toBe(true);
  expect(fs.readdirSync(path.join(root, '.dv', 'tmp')).filter((f) => f.endsWith('.tmp'))).toEqual([]);

  const db = new Database(path.join(root, '.dv', 'dv.db'), { readonly: true });
  try {
    const packs = db.prepare('SELECT id, size FROM packs').all() as { id: string; size: number }[];
    expect(packs.length).toBeGreaterThanOrEqual(2);
    for (const p of packs) {
      const bytes = fs.readFileSync(path.join(root, '.dv', 'packs', p.id.slice(0, 2), `${p.id}.pack`));
      expect(bytes.length, p.id).toBe(p.size);
      expect(blake3Hex(bytes), p.id).toBe(p.id);
    }
    const chunkBytes = db.prepare('SELECT SUM(length) FROM blobs WHERE type = 1').pluck().get() as number;
    const unique = files.filter((f) => f !== 'b.bin').reduce((n, f) => n + content.get(f)!.length, 0);
    expect(chunkBytes).toBe(unique);
    const md5Of = db.prepare('SELECT md5 FROM file_md5 WHERE hash = ?').pluck();
    for (const f of files) {
      const md5 = md5Of.get(Buffer.from(blake3Hex(content.get(f)!), 'hex')) as Buffer;
      expect(md5.toString('hex'), f).toBe(crypto.createHash('md5').update(content.get(f)!).digest('hex'));
    }
  } finally {
    db.close();
  }

  const status = await dvJson<{ added: string[]; modified: string[]; deleted: string[] }>(root, ['status', '--json']);
  expect([status.added, status.modified, status.deleted]).toEqual([[], [], []]);
  fs.rmSync(path.join(root, 'data/a.bin'));
  fs.writeFileSync(path.join(root, 'data/c.bin'), 'changed');
  await dvOk(root, ['checkout', '-f', 'HEAD']);
  for (const f of files) expect(sha256File(path.join(root, 'data', f)), f).toBe(crypto.createHash('sha256').update(content.get(f)!).digest('hex'));
}, 120_000);

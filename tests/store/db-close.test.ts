// dv.db's write-ahead log at close (src/store/db.ts, native/sqlite-ext.c): a writing
// command leaves its log in place (no checkpoint: no copy into dv.db, no second fsync),
// and what it wrote is there for the next process, for a plain SQLite connection, and
// after the log is folded in and removed. Without the addon, close checkpoints as before.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { dvJson, dvOk, TempDirs } from '../helpers/cli.js';

const tmp = new TempDirs();
afterAll(() => tmp.cleanup());

function project(): { dir: string; db: string } {
  const dir = tmp.make('dv-dbclose-');
  fs.mkdirSync(path.join(dir, 'data'));
  fs.writeFileSync(path.join(dir, 'data', 'a.txt'), 'a\n');
  return { dir, db: path.join(dir, '.dv', 'dv.db') };
}

function branchesSeenBySqlite(db: string): string[] {
  const c = new Database(db, { readonly: true });
  try {
    return (c.prepare("SELECT name FROM refs WHERE name LIKE 'heads/%' ORDER BY name").pluck().all() as string[]);
  } finally {
    c.close();
  }
}

it('a writing command keeps the log; the next process, SQLite and a folded dv.db all see its writes', async () => {
  const { dir, db } = project();
  await dvOk(dir, ['init', '-q']);
  await dvOk(dir, ['add', 'data', '-q']);
  await dvOk(dir, ['branch', 'side']);
  // Kept: a checkpoint at close would have emptied it into dv.db and deleted it.
  expect(fs.statSync(`${db}-wal`).size).toBeGreaterThan(0);
  const before = fs.readFileSync(db);
  fs.writeFileSync(path.join(dir, 'data', 'b.txt'), 'b\n');
  await dvOk(dir, ['commit', '-q', '-m', 'b']);
  expect(fs.readFileSync(db).equals(before)).toBe(true); // the commit went to the log alone
  const log = await dvJson<{ message: string }[]>(dir, ['log', '--json']);
  expect(log.map((c) => c.message)).toContain('b');
  expect(branchesSeenBySqlite(db)).toEqual(['heads/main', 'heads/side']);
  // Folded in and removed, the log leaves nothing behind that dv.db lacks.
  const c = new Database(db);
  c.pragma('wal_checkpoint(TRUNCATE)');
  c.close();
  expect(fs.existsSync(`${db}-wal`)).toBe(false);
  expect((await dvJson<{ message: string }[]>(dir, ['log', '--json'])).map((e) => e.message)).toContain('b');
  expect((await dvOk(dir, ['cat', 'HEAD:data/b.txt'])).stdout).toBe('b\n');
});

it('without the native addon, closing checkpoints and removes the log', async () => {
  const { dir, db } = project();
  const env = { DV_NATIVE: '0' };
  await dvOk(dir, ['init', '-q'], { env });
  await dvOk(dir, ['add', 'data', '-q'], { env });
  expect(fs.existsSync(`${db}-wal`)).toBe(false);
  expect(branchesSeenBySqlite(db)).toEqual(['heads/main']);
});

// Seeded random damage: one byte flipped per trial, in a random pack or in dv.db, of a
// copy of a repository with three versions (pushed to a real s3rver remote first).
// Each trial asserts that
//   - fsck reports every flip in a pack (any pack byte counts: packs are named by their
//     hash) and every flip in dv.db that changes what dv reads from it (the rows of
//     packs, blobs and refs, and the meta values; the stat cache is a cache and is left
//     out: nothing dv returns is read from it);
//   - no read ever returns wrong bytes: every file of every version reads back exactly
//     or fails with an error;
//   - fsck --repair plus a fetch from the remote restores every version exactly, and
//     every ref, tag and HEAD (from .dv/refs.log), also when the damage is on dv.db's
//     schema page or dv.db no longer opens at all (it is then rebuilt whole).
// Two scenarios run the CLI on a destroyed first page and on a deleted dv.db.
// The trial count is fixed (a few hundred), so the run time is bounded and repeatable.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fsck } from '../../src/repo/fsck.js';
import { cat } from '../../src/repo/read.js';
import { repairAt } from '../../src/repo/repair-open.js';
import { createBranch, createTag } from '../../src/repo/history.js';
import { Repo } from '../../src/repo/repo.js';
import type { DvError } from '../../src/store/errors.js';
import { addRemote } from '../../src/repo/remote/config.js';
import { push } from '../../src/repo/remote/push.js';
import { add, commit } from '../../src/repo/snapshot.js';
import { ageFiles, dv, dvJson, dvOk, randomBytes, TEST_AUTHOR, TempDirs, writeFile } from '../helpers/cli.js';
import { readAll } from '../helpers/repo.js';
import { startS3Server, type S3TestServer } from '../helpers/s3server.js';

const PACK_TRIALS = Number(process.env.T_PACK ?? 100);
const DB_TRIALS = Number(process.env.T_DB ?? 120);

let s3: S3TestServer;
const tmp = new TempDirs();
let template: string;
/** commit id -> path -> bytes */
const versions = new Map<string, Map<string, Buffer>>();
let cleanDump: string;
/** Refs and HEAD of the undamaged repository. */
let cleanRefs: unknown;

function refsOf(repo: Repo): unknown {
  return { refs: repo.refs.list(), head: repo.refs.head() };
}
/** Byte ranges of dv.db's pages holding what dv reads (tables, their indexes, the schema). */
let storePages: [number, number][] = [];
/** Byte ranges of dv.db where row values dv reads are stored (found by searching for them). */
let rowBytes: [number, number][] = [];
let pageSize = 4096;

/** A tiny deterministic generator (mulberry32), so every run flips the same bytes. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What dv reads from dv.db, as text ('unreadable' when SQLite cannot give it). */
function dump(dbFile: string): string {
  try {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      const rows = (sql: string) => JSON.stringify(db.prepare(sql).raw().all(), (_k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v));
      const meta = (key: string) => (db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined) ?? null;
      return [
        rows('SELECT id, size, blobs FROM packs ORDER BY id'),
        rows('SELECT id, type, pack, offset, length FROM blobs ORDER BY id'),
        rows('SELECT name, target FROM refs ORDER BY name'),
        meta('HEAD') ?? 'ref: heads/main',
        // Every area's schema version: a damaged one stops dv from opening the repository.
        rows("SELECT key, value FROM meta WHERE key LIKE 'schema\\_version:%' ESCAPE '\\' ORDER BY key"),
      ].join('\n');
    } finally {
      db.close();
    }
  } catch {
    return 'unreadable';
  }
}

function packFiles(dvDir: string): string[] {
  const root = path.join(dvDir, 'packs');
  return fs.readdirSync(root).flatMap((d) => fs.readdirSync(path.join(root, d)).map((f) => path.join(root, d, f))).sort();
}

/** Every file of every version: exact bytes or an error, never anything else. */
async function readsAreExactOrFail(repo: Repo): Promise<{ exact: number; failed: number }> {
  let exact = 0;
  let failed = 0;
  for (const [c, files] of versions) {
    for (const [p, want] of files) {
      let got: Buffer;
      try {
        got = await readAll(await cat(repo, `${c}:${p}`));
      } catch {
        failed++;
        continue;
      }
      expect(got.equals(want), `${c.slice(0, 12)}:${p} returned wrong bytes`).toBe(true);
      exact++;
    }
  }
  return { exact, failed };
}

beforeAll(async () => {
  s3 = await startS3Server();
  Object.assign(process.env, s3.env, { DV_AUTHOR: TEST_AUTHOR, DV_REMOTE_SETTLE_MS: '20' });
  template = tmp.make('dv-corrupt-');
  // Commit times fixed: the same commits, packs and dv.db every run, so a seed names a trial.
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
  const repo = await Repo.init(template);
  const snap = async (files: Record<string, Buffer>, first: boolean) => {
    for (const [p, b] of Object.entries(files)) writeFile(template, p, b);
    ageFiles(path.join(template, 'data'));
    const id = first ? (await add(repo, ['data'])).commit! : (await commit(repo)).commit!;
    const all = new Map(versions.size ? [...versions.values()].pop()! : []);
    for (const [p, b] of Object.entries(files)) all.set(p, b);
    versions.set(id, all);
  };
  const a = randomBytes(200_000, 'corrupt-a');
  await snap({ 'data/a.bin': a, 'data/b.txt': Buffer.from('b\n') }, true);
  await snap({ 'data/a.bin': Buffer.concat([a.subarray(0, 100_000), randomBytes(50_000, 'corrupt-mid'), a.subarray(100_000)]), 'data/c.bin': randomBytes(90_000, 'corrupt-c') }, false);
  await snap({ 'data/sub/d.txt': Buffer.from('d\n') }, false);
  const [first, second] = [...versions.keys()];
  await createBranch(repo, 'side', first);
  await createTag(repo, 'v1', second);
  vi.useRealTimers();
  await addRemote(repo, 'origin', `s3://${s3.bucket}/corrupt`, { endpoint: s3.endpoint });
  await push(repo, {});
  cleanRefs = refsOf(repo);
  repo.close();
  // dv leaves its write-ahead log at close (src/store/db.ts): fold it into dv.db, so that
  // the damage below lands on pages no newer copy in the log stands in for.
  const folding = new Database(path.join(template, '.dv', 'dv.db'));
  folding.pragma('wal_checkpoint(TRUNCATE)');
  folding.close();
  cleanDump = dump(path.join(template, '.dv', 'dv.db'));
  const db = new Database(path.join(template, '.dv', 'dv.db'), { readonly: true });
  pageSize = db.pragma('page_size', { simple: true }) as number;
  storePages = (db.prepare("SELECT pageno FROM dbstat WHERE name NOT LIKE 'workspace_%'").pluck().all() as number[])
    .map((n) => [(n - 1) * pageSize, pageSize]);
  const needles: Buffer[] = [
    ...(db.prepare('SELECT id FROM packs').pluck().all() as string[]).map((x) => Buffer.from(x)),
    ...(db.prepare('SELECT id FROM blobs').pluck().all() as Buffer[]),
    ...(db.prepare('SELECT name, target FROM refs').raw().all() as string[][]).flat().map((x) => Buffer.from(x)),
    ...(db.prepare('SELECT value FROM meta').pluck().all() as string[]).map((x) => Buffer.from(x)),
  ];
  db.close();
  const bytes = fs.readFileSync(path.join(template, '.dv', 'dv.db'));
  for (const n of needles) for (let at = bytes.indexOf(n); at >= 0; at = bytes.indexOf(n, at + 1)) rowBytes.push([at, n.length]);
  expect(packFiles(path.join(template, '.dv')).length).toBe(3);
}, 60_000);

afterAll(async () => {
  tmp.cleanup();
  await s3?.stop();
});

describe('random byte flips (seeded)', () => {
  /** Trials whose flip changed what dv reads (so fsck had to report it). */
  let mattered = 0;
  let schemaPage = 0;

  async function trial(i: number, rand: () => number, where: 'pack' | 'db'): Promise<void> {
    const dir = tmp.make(`dv-trial-${i}-`);
    fs.cpSync(template, dir, { recursive: true });
    const dvDir = path.join(dir, '.dv');
    const packs = packFiles(dvDir);
    const file = where === 'pack' ? packs[Math.floor(rand() * packs.length)] : path.join(dvDir, 'dv.db');
    const size = fs.statSync(file).size;
    // In dv.db, half the flips land on stored row values, a quarter on the pages of the
    // tables dv reads, a quarter anywhere (most of the file is the stat cache and free
    // space, where a flip changes nothing dv returns).
    const pick = rand();
    const ranges = pick < 0.5 ? rowBytes : pick < 0.75 ? storePages : null;
    const page = where === 'db' && ranges ? ranges[Math.floor(rand() * ranges.length)] : null;
    const offset = page ? page[0] + Math.floor(rand() * page[1]) : Math.floor(rand() * size);
    const mask = 1 + Math.floor(rand() * 255);
    const fd = fs.openSync(file, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, offset);
    b[0] ^= mask;
    fs.writeSync(fd, b, 0, 1, offset);
    fs.closeSync(fd);
    const what = `trial ${i}: ${path.basename(file)} byte ${offset} ^ ${mask}`;
    const damaged = where === 'db' ? dump(file) : '';
    const mustReport = where === 'pack' || damaged !== cleanDump;
    if (mustReport) mattered++;

    // Local repair first (what a user does, via the CLI's path: an unreadable dv.db is
    // rebuilt whole); the remote only for what it could not restore.
    const repaired = async (remote?: string) => {
      try {
        return await repairAt(dir, { remote });
      } catch (e) {
        throw new Error(`${what}: repair failed: ${(e as DvError).message}`);
      }
    };
    let repo: Repo | undefined;
    try {
      try {
        repo = Repo.open(dir);
      } catch {
        expect(mustReport, `${what}: the repository no longer opens, yet what dv reads did not change`).toBe(true);
      }
      if (repo) {
        let reported: boolean;
        try {
          reported = !(await fsck(repo)).ok;
        } catch {
          reported = true;
        }
        const changed = damaged.split('\n').filter((l, n) => l !== cleanDump.split('\n')[n]).join(' | ').slice(0, 300);
        if (mustReport) expect(reported, `${what}: fsck reported nothing (changed: ${changed})`).toBe(true);
        await readsAreExactOrFail(repo);
        if (where === 'db' && offset < pageSize && reported) schemaPage++;
        repo.close();
        repo = undefined;
      }
      let r = await repaired();
      if (!r.fsck.ok || r.lostFiles.length) r = await repaired('origin');
      expect(r.fsck.errors, what).toEqual([]);
      repo = Repo.open(dir);
      // Refs, tags and HEAD as before the damage (refs.log puts back what dv.db lost).
      expect(refsOf(repo), what).toEqual(cleanRefs);
      const after = await readsAreExactOrFail(repo);
      expect(after.failed, `${what}: a version is still damaged after repair + fetch`).toBe(0);
    } finally {
      repo?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  it(`${PACK_TRIALS} flips in packs: all reported, never wrong bytes, all restored`, async () => {
    const rand = rng(Number(process.env.T_SEED ?? 16));
    mattered = 0;
    for (let i = 0; i < PACK_TRIALS; i++) await trial(i, rand, 'pack');
    expect(mattered).toBe(PACK_TRIALS);
  }, 600_000);

  it(`${DB_TRIALS} flips in dv.db: every change dv reads is reported, never wrong bytes, all restored`, async () => {
    const rand = rng(Number(process.env.T_SEED ?? 1616));
    mattered = 0;
    for (let i = 0; i < DB_TRIALS; i++) await trial(i, rand, 'db');
    // Most of dv.db is free or cache space; enough flips must land on what dv reads for
    // this to test anything.
    console.log(`dv.db flips that changed what dv reads: ${mattered} of ${DB_TRIALS} (${schemaPage} on the schema page)`);
    expect(mattered).toBeGreaterThanOrEqual(DB_TRIALS / 6);
  }, 600_000);
});

describe('dv.db lost: dv fsck --repair rebuilds it from the packs and .dv/refs.log', () => {
  /** Branches, tags, HEAD and the reflog as the CLI shows them, and every version's bytes. */
  async function state(dir: string): Promise<unknown> {
    const branches = await dvJson(dir, ['branch', '--json']);
    const tags = await dvJson(dir, ['tag', '--json']);
    const reflog = (await dvOk(dir, ['reflog'])).stdout;
    const files: Record<string, string> = {};
    for (const [c, fs] of versions) for (const p of fs.keys()) files[`${c}:${p}`] = (await dvOk(dir, ['cat', `${c}:${p}`])).stdoutBytes.toString('hex');
    return { branches, tags, reflog, files };
  }

  async function damagedThenRepaired(damage: (dbFile: string) => void): Promise<void> {
    const dir = tmp.make('dv-lostdb-');
    fs.cpSync(template, dir, { recursive: true });
    const before = await state(dir);
    damage(path.join(dir, '.dv', 'dv.db'));
    const broken = await dv(dir, ['branch']);
    // Deleted, dv.db comes back empty: no branch is listed; destroyed, it does not read.
    expect(broken.code !== 0 || !broken.stdout.includes('side')).toBe(true);
    const r = await dvJson<{ refsRestored: string[]; fsck: { ok: boolean } }>(dir, ['fsck', '--repair', '--json']);
    expect(r.fsck.ok).toBe(true);
    expect(r.refsRestored).toEqual(expect.arrayContaining(['heads/main', 'heads/side', 'tags/v1', 'reflog']));
    expect(await state(dir)).toEqual(before);
    await dvOk(dir, ['fsck']);
  }

  it('page 1 (the schema page) destroyed', async () => {
    await damagedThenRepaired((db) => {
      const fd = fs.openSync(db, 'r+');
      fs.writeSync(fd, randomBytes(pageSize, 'page-1'), 0, pageSize, 0);
      fs.closeSync(fd);
    });
  }, 120_000);

  it('a schema version damaged (read as no version, it would skip every migration)', async () => {
    await damagedThenRepaired((file) => {
      const db = new Database(file);
      db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version:repo'").run('\x01');
      db.close();
    });
  }, 120_000);

  it('dv.db deleted (with its -wal and -shm)', async () => {
    await damagedThenRepaired((db) => { for (const ext of ['', '-wal', '-shm']) fs.rmSync(db + ext, { force: true }); });
  }, 120_000);

});

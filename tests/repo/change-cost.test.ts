// One changed file among many costs O(change): status, commit and checkout read, hash
// and write a number of files and trees that follows the change, not the 20,000 files
// of the repository. Counted (src/repo/opcount.ts), not timed, so the test is exact.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkout } from '../../src/repo/checkout.js';
import { ops, resetOps } from '../../src/repo/opcount.js';
import { Repo } from '../../src/repo/repo.js';
import { add, commit } from '../../src/repo/snapshot.js';
import { SEGMENT_MAX_ROWS } from '../../src/repo/stat-segments.js';
import { status } from '../../src/repo/status.js';
import { ageFiles, setMtime } from '../helpers/cli.js';
import { RepoFixtures } from '../helpers/repo.js';

const DIRS = 20;
const PER_DIR = 1000;
/** Far fewer stat-cache lookups than the 20,000 files: a few scan chunks' worth. */
const FEW_ROWS = 2000;
/** Stat-cache rows a command touching one file may read or write: its segment's
 * (stat-segments.ts), a small part of the 20,000, so memory does not follow the repository. */
const SEGMENT = SEGMENT_MAX_ROWS;
const fx = new RepoFixtures();
afterAll(() => fx.closeAll());

const name = (d: number, f: number) => `data/d${String(d).padStart(2, '0')}/f${String(f).padStart(5, '0')}.txt`;
/** An edit with an old mtime (outside the racy window), as a file edited a while ago. */
function edit(root: string, rel: string, content: string, when = Date.now() - 30_000): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), content);
  setMtime(path.join(root, rel), Math.floor(when / 1000) * 1000);
}

describe('cost follows the change (20,000 files)', () => {
  let root: string;
  beforeAll(async () => {
    const { root: r, repo } = await fx.create();
    root = r;
    for (let d = 0; d < DIRS; d++) {
      fs.mkdirSync(path.join(root, `data/d${String(d).padStart(2, '0')}`), { recursive: true });
      for (let f = 0; f < PER_DIR; f++) fs.writeFileSync(path.join(root, name(d, f)), `row ${d} ${f}\n`);
    }
    ageFiles(path.join(root, 'data'));
    resetOps();
    await add(repo, ['data']);
    // The counters are live: the first add stores every file and writes every tree.
    expect(ops.filesStored).toBe(DIRS * PER_DIR);
    expect(ops.treesWritten).toBeGreaterThanOrEqual(DIRS + 2);
    // Memory follows the largest directory, not the tree: the first add holds the open
    // directories' entries (one directory of files, the finished ones' tree entries), never one per file.
    expect(ops.entriesHeld).toBeGreaterThanOrEqual(PER_DIR);
    expect(ops.entriesHeld).toBeLessThanOrEqual(PER_DIR + DIRS);
    repo.close();
  }, 120_000);

  /** A command on a freshly opened repository (no tree cached), with the counters reset. */
  async function counted<T>(run: (repo: Repo) => Promise<T>): Promise<T> {
    const repo = Repo.open(root);
    resetOps();
    try { return await run(repo); } finally { repo.close(); }
  }

  it('status, commit and checkout of one modified file', async () => {
    const changed = name(7, 123);
    edit(root, changed, 'changed\n');
    const st = await counted((repo) => status(repo));
    expect(st).toMatchObject({ added: [], modified: [changed], deleted: [] });
    expect(ops).toMatchObject({ filesHashed: 1, filesStored: 0, treesRead: 0, treesWritten: 0 });
    // Only the changed file's scan chunk (~256 files) is looked up in the stat cache.
    expect(ops.rowsProbed).toBeGreaterThan(0);
    expect(ops.rowsProbed).toBeLessThan(FEW_ROWS);
    expect(ops.rowsLoaded).toBeGreaterThan(0);
    expect(ops.rowsLoaded).toBeLessThanOrEqual(SEGMENT);

    const c = await counted((repo) => commit(repo, { message: 'one' }));
    expect(c.changes.map((x) => [x.path, x.status])).toEqual([[changed, 'modified']]);
    expect(c.files).toBe(DIRS * PER_DIR);
    // The root, data/ and data/d07/: read once each, written once each.
    expect(ops.filesStored).toBe(1);
    expect(ops.filesHashed).toBeLessThanOrEqual(1);
    expect(ops.treesRead).toBeLessThanOrEqual(3);
    expect(ops.treesWritten).toBe(3);
    expect(ops.rowsProbed).toBeLessThan(FEW_ROWS);
    // The first commit after the first add splits nothing: one segment read, one rewritten.
    expect(ops.rowsLoaded).toBeLessThanOrEqual(SEGMENT);
    expect(ops.rowsSaved).toBeGreaterThan(0);
    expect(ops.rowsSaved).toBeLessThanOrEqual(SEGMENT);
    expect((await counted((repo) => status(repo))).modified).toEqual([]);
    expect(ops.rowsProbed).toBe(0); // the commit remembered the whole scan

    const co = await counted((repo) => checkout(repo, 'HEAD~1'));
    expect(co.written).toEqual([changed]);
    expect(co.removed).toEqual([]);
    expect(fs.readFileSync(path.join(root, changed), 'utf8')).toBe('row 7 123\n');
    // Both versions' root, data/ and data/d07/; no other directory is read.
    expect(ops.treesRead).toBeLessThanOrEqual(6);
    expect(ops.filesHashed + ops.filesStored).toBe(0);
    expect(ops.rowsProbed).toBe(0);
    expect(ops.rowsLoaded + ops.rowsSaved).toBeLessThanOrEqual(2 * SEGMENT);
    // The file just written is re-read once (its row is smudged: racy), then trusted;
    // only its chunk is looked up.
    const after = await counted((repo) => status(repo));
    expect(after).toMatchObject({ added: [], modified: [], deleted: [] });
    expect(ops.filesHashed).toBeLessThanOrEqual(1);
    expect(ops.rowsProbed).toBeLessThan(FEW_ROWS);
    await counted((repo) => checkout(repo, 'main'));
    expect(fs.readFileSync(path.join(root, changed), 'utf8')).toBe('changed\n');
  }, 60_000);

  it('an added and a deleted file: status, commit and checkout stay O(change)', async () => {
    const added = 'data/d03/new.txt';
    const gone = name(15, 999);
    edit(root, added, 'new\n');
    fs.rmSync(path.join(root, gone));
    const st = await counted((repo) => status(repo));
    expect(st).toMatchObject({ added: [added], modified: [], deleted: [gone] });
    // At most the file the last checkout wrote (its row smudged: racy) is read; no tree.
    expect(ops.filesHashed).toBeLessThanOrEqual(1);
    expect(ops.treesRead).toBe(0);
    expect(ops.rowsProbed).toBeLessThan(3 * FEW_ROWS); // the chunks of the new, the deleted and the last written file

    const c = await counted((repo) => commit(repo, { message: 'add and delete' }));
    expect(c.changes.map((x) => [x.path, x.status])).toEqual([[added, 'added'], [gone, 'deleted']]);
    expect(ops.filesStored).toBe(1);
    expect(ops.treesWritten).toBe(4); // d03, d15, data/, the root
    expect(ops.treesRead).toBeLessThanOrEqual(4);

    const co = await counted((repo) => checkout(repo, 'HEAD~1'));
    expect(co).toMatchObject({ written: [gone], removed: [added] });
    expect(fs.existsSync(path.join(root, added))).toBe(false);
    expect(fs.readFileSync(path.join(root, gone), 'utf8')).toBe('row 15 999\n');
    expect(ops.treesRead).toBeLessThanOrEqual(8);
    expect((await counted((repo) => status(repo)))).toMatchObject({ added: [], modified: [], deleted: [] });
  }, 60_000);

  it('adding a new path stores only its files and rewrites only the trees on its way', async () => {
    // Written well before the add, so none of them is racily clean for the status below.
    const past = new Date(Date.now() - 60_000);
    for (let f = 0; f < 5; f++) {
      edit(root, `more/m${f}.txt`, `more ${f}\n`);
      fs.utimesSync(path.join(root, `more/m${f}.txt`), past, past);
    }
    const r = await counted((repo) => add(repo, ['more']));
    expect(r.changes.map((x) => [x.path, x.status])).toEqual([0, 1, 2, 3, 4].map((f) => [`more/m${f}.txt`, 'added']));
    expect(r.files).toBe(DIRS * PER_DIR + 5);
    expect(ops).toMatchObject({ filesStored: 5, filesHashed: 0, rowsProbed: 0, treesWritten: 2 }); // more/ and the root
    expect(ops.treesRead).toBeLessThanOrEqual(2);
    const st = await counted((repo) => status(repo));
    expect(st).toMatchObject({ tracked: ['data', 'more'], added: [], modified: [], deleted: [] });
    // At most the two files the earlier checkouts wrote, when still racily clean (same second).
    expect(ops.filesHashed).toBeLessThanOrEqual(2);
    expect(ops.rowsProbed).toBeLessThan(3 * FEW_ROWS);
    expect(ops.treesRead).toBe(0);
  }, 60_000);
});

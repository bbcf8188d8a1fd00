// The walkthrough through the real CLI (`node bin/dv.js` child processes, no
// TTY), the --json documents, and the error contract: one `dv: error:` line on
// stderr, exit 1 (2 for usage errors), nothing changed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repo } from '../../src/repo/repo.js';
import { RepoLock } from '../../src/store/lock.js';
import {
  describeRun, dv, dvJson, dvOk, ensureBuilt, listFiles, snapshotTree, TempDirs, TEST_AUTHOR, writeFile, writeRandomFile,
  type RunResult,
} from '../helpers/cli.js';

const tmp = new TempDirs();
afterAll(() => tmp.cleanup());
beforeAll(() => ensureBuilt());

const HEX64 = /^[0-9a-f]{64}$/;

/** The error contract: exit `code`, stdout untouched, exactly one `dv: error:` line on stderr. */
function expectError(args: string[], r: RunResult, code: number, message: RegExp): void {
  const why = describeRun(args, r);
  expect(r.code, why).toBe(code);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.length, why).toBe(1);
  expect(lines[0], why).toMatch(/^dv: error: \S/);
  expect(lines[0], why).toMatch(message);
}

async function dvError(cwd: string, args: string[], code: number, message: RegExp): Promise<RunResult> {
  const r = await dv(cwd, args);
  expectError(args, r, code, message);
  return r;
}

describe('walkthrough', () => {
  let proj: string;
  let data: string;
  let c1: string;
  let c2: string;
  let v1: Record<string, string>;
  let v2: Record<string, string>;
  beforeAll(() => {
    proj = tmp.make('dv-e2e-');
    data = path.join(proj, 'data');
  });

  it('dv init creates .dv/ with frozen chunker parameters, once', async () => {
    const r = await dvOk(proj, ['init']);
    expect(r.stdout).toContain(path.join(proj, '.dv'));
    const cfg = JSON.parse(fs.readFileSync(path.join(proj, '.dv', 'config.json'), 'utf8'));
    expect(cfg.chunker).toMatchObject({ algorithm: 'fastcdc-2020', min: 16384, avg: 65536, max: 262144 });
    expect(fs.existsSync(path.join(proj, '.dv', 'dv.db'))).toBe(true);
    await dvError(proj, ['init'], 1, /already/);
  });

  it('dv add prints the new commit id', async () => {
    writeFile(proj, 'data/a.csv', 'id,v\n1,10\n');
    writeFile(proj, 'data/b.csv', 'id,v\n2,20\n');
    writeFile(proj, 'data/sub/c.csv', 'id,v\n3,30\n');
    writeFile(proj, 'data/run.sh', '#!/bin/sh\necho run\n', 0o755);
    writeRandomFile(proj, 'data/big.bin', 3 << 20, 'e2e-big');
    const r = await dvOk(proj, ['add', 'data/', '-m', 'raw drop 1']);
    expect(r.stdout.trim()).toMatch(HEX64);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toBe('');
    c1 = r.stdout.trim();
    v1 = snapshotTree(data);
    const s = await dvJson<Record<string, unknown>>(proj, ['status', '--json']);
    expect(s).toEqual({ branch: 'main', commit: c1, tracked: ['data'], added: [], modified: [], deleted: [], merge: null });
    expect((await dvOk(proj, ['status'])).stdout).toMatch(/nothing to commit/);
  });

  it('dv status lists exactly the changed files', async () => {
    writeFile(proj, 'data/a.csv', 'id,v\n1,11\n');
    fs.rmSync(path.join(data, 'b.csv'));
    writeFile(proj, 'data/d.csv', 'id,v\n4,40\n');
    writeFile(proj, 'README.txt', 'not tracked');
    const r = await dvOk(proj, ['status']);
    const listed = r.stdout.split('\n').map((l) => /^\s+(added|modified|deleted):\s+(\S+)$/.exec(l)).filter(Boolean)
      .map((m) => `${m![1]} ${m![2]}`).sort();
    expect(listed).toEqual(['added data/d.csv', 'deleted data/b.csv', 'modified data/a.csv']);
    const s = await dvJson<Record<string, unknown>>(proj, ['status', '--json']);
    expect(s).toEqual({ branch: 'main', commit: c1, tracked: ['data'], added: ['data/d.csv'], modified: ['data/a.csv'], deleted: ['data/b.csv'], merge: null });
    // Limited to a path.
    const sub = await dvJson<{ added: string[]; modified: string[]; deleted: string[] }>(proj, ['status', 'data/a.csv', '--json']);
    expect([sub.added, sub.modified, sub.deleted]).toEqual([[], ['data/a.csv'], []]);
  });

  it('dv commit records them; a second dv commit is a no-op', async () => {
    const r = await dvOk(proj, ['commit', '-m', 'drop 2']);
    c2 = r.stdout.trim();
    expect(c2).toMatch(HEX64);
    v2 = snapshotTree(data);
    const again = await dvOk(proj, ['commit', '-m', 'nothing']);
    expect(again.stdout).toMatch(/nothing to commit/);
    const j = await dvJson<{ commit: string; created: boolean }>(proj, ['commit', '--json']);
    expect(j).toMatchObject({ commit: c2, created: false });
    expect((await dvJson<{ commit: string }>(proj, ['status', '--json'])).commit).toBe(c2);
  });

  it('dv log shows commits newest first', async () => {
    const r = await dvOk(proj, ['log']);
    expect(r.stdout.indexOf(c2)).toBeGreaterThanOrEqual(0);
    expect(r.stdout.indexOf(c1)).toBeGreaterThan(r.stdout.indexOf(c2));
    expect(r.stdout).toContain('drop 2');
    expect(r.stdout).toContain('raw drop 1');
    const log = await dvJson<Record<string, unknown>[]>(proj, ['log', '--json']);
    expect(log).toHaveLength(2);
    for (const e of log) {
      for (const k of ['id', 'parents', 'message', 'author', 'time', 'counts']) expect(e, k).toHaveProperty(k);
      expect(new Date(e.time as string).toISOString()).toBe(e.time);
      expect(e.author).toBe(TEST_AUTHOR);
    }
    expect(log[0]).toMatchObject({ id: c2, parents: [c1], message: 'drop 2', counts: { added: 1, modified: 1, deleted: 1 } });
    expect(log[1]).toMatchObject({ id: c1, parents: [], message: 'raw drop 1', counts: { added: 5, modified: 0, deleted: 0 } });
    expect(await dvJson<unknown[]>(proj, ['log', '-n', '1', '--json'])).toHaveLength(1);
    expect((await dvOk(proj, ['log', '--oneline'])).stdout.trim().split('\n')).toHaveLength(2);
  });

  it('dv diff HEAD~1 HEAD shows per-file changes', async () => {
    const r = await dvOk(proj, ['diff', 'HEAD~1', 'HEAD']);
    expect(r.stdout.trim().split('\n').sort()).toEqual(['A  data/d.csv', 'D  data/b.csv', 'M  data/a.csv']);
    const d = await dvJson<{ path: string; status: string; old: unknown; new: unknown }[]>(proj, ['diff', 'HEAD~1', 'HEAD', '--json']);
    expect(d.map((c) => [c.path, c.status])).toEqual([['data/a.csv', 'modified'], ['data/b.csv', 'deleted'], ['data/d.csv', 'added']]);
    expect(d[0].old).toMatchObject({ size: 10, mode: 420 });
    expect((d[0].old as { hash: string }).hash).toMatch(HEX64);
    expect(d[1].new).toBeNull();
    expect(d[2].old).toBeNull();
    // Workspace vs HEAD: clean.
    expect(await dvJson<unknown[]>(proj, ['diff', '--json'])).toEqual([]);
  });

  it('dv checkout HEAD~1 restores drop 1 byte-identical; dv checkout main comes back', async () => {
    await dvOk(proj, ['checkout', 'HEAD~1']);
    expect(snapshotTree(data)).toEqual(v1);
    expect(fs.statSync(path.join(data, 'run.sh')).mode & 0o111).not.toBe(0);
    expect(await dvJson(proj, ['status', '--json'])).toMatchObject({ branch: null, commit: c1, added: [], modified: [], deleted: [] });
    const r = await dvJson<{ commit: string; branch: string; written: string[]; removed: string[] }>(proj, ['checkout', 'main', '--json']);
    expect(r).toMatchObject({ commit: c2, branch: 'main' });
    expect([...r.written].sort()).toEqual(['data/a.csv', 'data/d.csv']);
    expect(r.removed).toEqual(['data/b.csv']);
    expect(snapshotTree(data)).toEqual(v2);
  });

  it('dv ls and dv cat read versions', async () => {
    const r = await dvOk(proj, ['ls', 'HEAD:data/']);
    const names = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).pop());
    expect(names).toEqual(['data/a.csv', 'data/big.bin', 'data/d.csv', 'data/run.sh', 'data/sub/']);
    const items = await dvJson<Record<string, unknown>[]>(proj, ['ls', 'HEAD:data/', '--json']);
    expect(items.map((i) => [i.path, i.type])).toEqual([
      ['data/a.csv', 'file'], ['data/big.bin', 'file'], ['data/d.csv', 'file'], ['data/run.sh', 'file'], ['data/sub', 'dir'],
    ]);
    expect(items[1]).toMatchObject({ size: 3 << 20, mode: 420 });
    expect(items[1].hash).toMatch(HEX64);
    expect(items[3]).toMatchObject({ mode: 493 });
    const rec = await dvJson<{ path: string }[]>(proj, ['ls', '-r', 'HEAD~1:data', '--json']);
    expect(rec.map((i) => i.path)).toEqual(['data/a.csv', 'data/b.csv', 'data/big.bin', 'data/run.sh', 'data/sub/c.csv']);

    expect((await dvOk(proj, ['cat', 'HEAD~1:data/a.csv'])).stdout).toBe('id,v\n1,10\n');
    expect((await dvOk(proj, ['cat', 'HEAD:data/a.csv'])).stdout).toBe('id,v\n1,11\n');
    const big = await dvOk(proj, ['cat', `${c1.slice(0, 10)}:data/big.bin`]);
    expect(big.stdoutBytes.equals(fs.readFileSync(path.join(data, 'big.bin')))).toBe(true);
  });

  it('dv branch and dv tag', async () => {
    expect((await dvOk(proj, ['branch', 'staging'])).stdout).toMatch(/staging/);
    expect(await dvJson(proj, ['branch', '--json'])).toEqual([
      { name: 'main', commit: c2, current: true },
      { name: 'staging', commit: c2, current: false },
    ]);
    expect((await dvOk(proj, ['branch'])).stdout).toMatch(/^\* main /m);
    await dvOk(proj, ['tag', 'v1']);
    expect(await dvJson(proj, ['tag', 'v0', 'HEAD~1', '--json'])).toEqual({ name: 'v0', commit: c1 });
    expect(await dvJson(proj, ['tag', '--json'])).toEqual([{ name: 'v0', commit: c1 }, { name: 'v1', commit: c2 }]);
    await dvError(proj, ['tag', 'v1'], 1, /already exists/);
    await dvError(proj, ['branch', 'bad..name'], 2, /invalid branch name/);
    await dvOk(proj, ['branch', '-d', 'staging']);
    expect((await dvJson<{ name: string }[]>(proj, ['branch', '--json'])).map((b) => b.name)).toEqual(['main']);
  });

  it('dv export and dv import round-trip byte-identical', async () => {
    const tarFile = path.join(proj, 'v1.tar');
    await dvOk(proj, ['export', 'v1:data', '-o', 'v1.tar']);
    expect(fs.statSync(tarFile).size).toBeGreaterThan(3 << 20);
    const r = await dvOk(proj, ['import', 'v1.tar', 'restored/']);
    expect(r.stdout.trim()).toMatch(HEX64);
    expect(snapshotTree(path.join(proj, 'restored'))).toEqual(v2);
    expect(await dvJson(proj, ['status', '--json'])).toMatchObject({ tracked: ['data', 'restored'], added: [], modified: [], deleted: [] });
    // A truncated archive: one error, nothing changed.
    fs.writeFileSync(path.join(proj, 'cut.tar'), fs.readFileSync(tarFile).subarray(0, 1_000_000));
    const head = (await dvJson<{ commit: string }>(proj, ['status', '--json'])).commit;
    await dvError(proj, ['import', 'cut.tar', 'cut/'], 1, /cut\.tar/);
    expect(fs.existsSync(path.join(proj, 'cut'))).toBe(false);
    expect((await dvJson<{ commit: string }>(proj, ['status', '--json'])).commit).toBe(head);
  });

  it('dv gc and dv fsck', async () => {
    const dry = await dvJson<Record<string, unknown>>(proj, ['gc', '--dry-run', '--json']);
    expect(dry).toMatchObject({ dryRun: true });
    for (const k of ['packsDeleted', 'packsRewritten', 'objectsDeleted', 'bytesFreed', 'orphanPacks']) expect(typeof dry[k], k).toBe('number');
    expect((await dvOk(proj, ['gc'])).stdout).toMatch(/freed/);
    const f = await dvOk(proj, ['fsck']);
    expect(f.stdout).toMatch(/^ok: \d+ packs, \d+ objects verified/m);
    const fj = await dvJson<Record<string, unknown>>(proj, ['fsck', '--json']);
    expect(fj).toMatchObject({ ok: true, errors: [], warnings: [] });
    // Everything still reads back.
    await dvOk(proj, ['checkout', 'v0']);
    expect(snapshotTree(data)).toEqual(v1);
    await dvOk(proj, ['checkout', 'main']);
    expect(snapshotTree(data)).toEqual(v2);
  });
});

describe('errors', () => {
  let proj: string;
  let outside: string;
  beforeAll(async () => {
    proj = tmp.make('dv-e2e-err-');
    outside = tmp.make('dv-e2e-outside-');
    await dvOk(proj, ['init']);
    writeFile(proj, 'data/a.csv', 'a\n');
    writeFile(outside, 'x.csv', 'x\n');
    await dvOk(proj, ['add', 'data']);
  });

  async function unchanged<T>(fn: () => Promise<T>): Promise<T> {
    const before = { files: snapshotTree(proj), head: await dvJson(proj, ['log', '--json']) };
    const out = await fn();
    expect({ files: snapshotTree(proj), head: await dvJson(proj, ['log', '--json']) }).toEqual(before);
    return out;
  }

  it('a path outside the project', async () => {
    await unchanged(async () => {
      await dvError(proj, ['add', '../'], 1, /outside the project/);
      await dvError(proj, ['add', path.join(outside, 'x.csv')], 1, /outside the project/);
      await dvError(proj, ['status', '/etc'], 1, /outside the project/);
      await dvError(proj, ['add', '.dv'], 1, /dv's or git's own directory/);
    });
  });

  it('a missing path', async () => {
    await unchanged(() => dvError(proj, ['add', 'data/missing.csv'], 1, /'data\/missing\.csv' does not exist/));
    await dvError(proj, ['cat', 'HEAD:data/missing.csv'], 1, /does not exist/);
    await dvError(proj, ['ls', 'HEAD:nothing'], 1, /does not exist/);
  });

  it('an unknown ref', async () => {
    await unchanged(async () => {
      for (const args of [['checkout', 'nope'], ['log', 'nope'], ['diff', 'nope'], ['diff', 'HEAD', 'nope'], ['cat', 'nope:data/a.csv'],
        ['ls', 'nope'], ['branch', 'x', 'nope'], ['tag', 't', 'nope'], ['export', 'nope', '-o', 'x.tar'], ['checkout', 'HEAD~5']]) {
        await dvError(proj, args, 1, /unknown ref 'nope'|past the first commit/);
      }
    });
    expect(fs.existsSync(path.join(proj, 'x.tar'))).toBe(false);
  });

  it('a directory that is not a dv repository', async () => {
    const plain = tmp.make('dv-e2e-plain-');
    for (const args of [['status'], ['log'], ['add', 'x'], ['checkout', 'main'], ['fsck'], ['gc']]) {
      await dvError(plain, args, 1, /not a dv repository/);
    }
    expect(fs.readdirSync(plain)).toEqual([]);
  });

  it('usage errors exit 2', async () => {
    await unchanged(async () => {
      await dvError(proj, ['frobnicate'], 2, /unknown command/);
      await dvError(proj, ['add'], 2, /missing required argument/);
      await dvError(proj, ['status', '--bogus'], 2, /unknown option/);
      await dvError(proj, ['log', '-n', 'many'], 2, /integer/);
      // Every command's option values go through the same parsers (src/cli/args.ts).
      await dvError(proj, ['run', '-j', '0'], 2, /-j, --jobs .* integer from 1/);
      await dvError(proj, ['push', '--jobs', '999'], 2, /integer from 1 to 256/);
      await dvError(proj, ['gc', '--remote', '--grace', 'soon'], 2, /not a duration/);
      await dvError(proj, ['gc', '--prune-runs', 'soon'], 2, /not a duration/);
      await dvError(proj, ['serve', '--port', '70000'], 2, /integer from 0 to 65535/);
      await dvError(proj, ['serve', '--cache-size', 'big'], 2, /not a size/);
      await dvError(proj, ['export', 'HEAD'], 2, /--output/);
      await dvError(proj, ['cat', 'HEAD'], 2, /give a file/);
    });
    const help = await dv(proj, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/checkout/);
  });

  it('the lock is refused with a clear message while another process holds it', async () => {
    // The lock held by a live process (this test process, through the library).
    const lock = path.join(proj, '.dv', 'lock');
    const held = new RepoLock(lock);
    held.acquire('add');
    try {
      const r = await dv(proj, ['tag', 'locked'], { env: { DV_LOCK_WAIT_MS: '200' } });
      expectError(['tag', 'locked'], r, 1, new RegExp(`locked by pid ${process.pid} \\('dv add'`));
      // Readers do not need the lock.
      await dvOk(proj, ['status']);
    } finally {
      held.release();
    }
    // What a holder killed at any moment leaves (an empty or stale info file) means nothing.
    fs.writeFileSync(lock, '');
    await dvOk(proj, ['tag', 'after-empty-lock'], { env: { DV_LOCK_WAIT_MS: '200' } });
    fs.writeFileSync(lock, JSON.stringify({ pid: 999_999_999, host: os.hostname(), command: 'add', since: new Date().toISOString() }));
    await dvOk(proj, ['tag', 'after-stale-lock'], { env: { DV_LOCK_WAIT_MS: '200' } });
    expect(fs.existsSync(lock)).toBe(false);
  });
});

describe('edge cases', () => {
  it('an empty repository: nothing tracked, empty listings, commit refused', async () => {
    const proj = tmp.make('dv-e2e-empty-');
    await dvOk(proj, ['init']);
    expect(await dvJson(proj, ['status', '--json'])).toEqual({ branch: 'main', commit: null, tracked: [], added: [], modified: [], deleted: [], merge: null });
    expect(await dvJson(proj, ['log', '--json'])).toEqual([]);
    expect(await dvJson(proj, ['branch', '--json'])).toEqual([]);
    expect(await dvJson(proj, ['tag', '--json'])).toEqual([]);
    await dvError(proj, ['commit'], 1, /nothing is tracked yet/);
    await dvError(proj, ['checkout', 'HEAD'], 1, /no commits yet/);
    expect((await dvJson(proj, ['fsck', '--json']))).toMatchObject({ ok: true, errors: [] });
  });

  it('names with spaces and non-ASCII characters, and paths given from a subdirectory', async () => {
    const proj = tmp.make('dv-e2e-names-');
    await dvOk(proj, ['init']);
    writeFile(proj, 'data/naïve name.csv', 'ü,ß\n');
    writeFile(proj, 'data/日本/ファイル.txt', 'こんにちは\n');
    const sub = path.join(proj, 'data');
    const id = (await dvOk(sub, ['add', '.'])).stdout.trim();
    expect(id).toMatch(HEX64);
    expect((await dvJson<{ path: string }[]>(proj, ['ls', '-r', 'HEAD:data', '--json'])).map((i) => i.path))
      .toEqual(['data/naïve name.csv', 'data/日本/ファイル.txt']);
    expect((await dvOk(proj, ['cat', 'HEAD:data/naïve name.csv'])).stdout).toBe('ü,ß\n');
    expect((await dvOk(sub, ['cat', 'HEAD:data/日本/ファイル.txt'])).stdout).toBe('こんにちは\n');
    writeFile(proj, 'data/日本/ファイル.txt', 'changed\n');
    expect(await dvJson(sub, ['status', '--json'])).toMatchObject({ modified: ['data/日本/ファイル.txt'] });
    await dvOk(proj, ['export', 'HEAD:data', '-o', 'all.tar']);
    await dvOk(proj, ['import', 'all.tar', 'copy']);
    expect(fs.readFileSync(path.join(proj, 'copy/日本/ファイル.txt'), 'utf8')).toBe('こんにちは\n');
    expect(fs.readFileSync(path.join(proj, 'copy/naïve name.csv'), 'utf8')).toBe('ü,ß\n');
  });
});

describe('a corrupted chunk', () => {
  let proj: string;
  let chunkId: string;
  beforeAll(async () => {
    proj = tmp.make('dv-e2e-corrupt-');
    await dvOk(proj, ['init']);
    writeRandomFile(proj, 'data/victim.bin', 900_000, 'e2e-victim');
    writeRandomFile(proj, 'data/other.bin', 900_000, 'e2e-other');
    await dvOk(proj, ['add', 'data']);
    // Locate the second chunk of victim.bin through the library and the SQLite blobs table.
    const repo = Repo.open(proj);
    try {
      const e = await repo.lookup(await repo.resolve('HEAD'), 'data/victim.bin');
      if (e?.type !== 'file') throw new Error('victim.bin missing');
      chunkId = e.chunks[1][0];
      const row = repo.db.prepare('SELECT pack, offset, length FROM blobs WHERE id = ?').get(Buffer.from(chunkId, 'hex')) as
        { pack: string; offset: number; length: number };
      const file = path.join(proj, '.dv', 'packs', row.pack.slice(0, 2), `${row.pack}.pack`);
      const fd = fs.openSync(file, 'r+');
      const b = Buffer.alloc(1);
      fs.readSync(fd, b, 0, 1, row.offset + 100);
      b[0] ^= 0x01;
      fs.writeSync(fd, b, 0, 1, row.offset + 100);
      fs.closeSync(fd);
    } finally {
      repo.close();
    }
  });

  it('dv fsck fails and names the damaged file', async () => {
    const r = await dv(proj, ['fsck']);
    expect(r.code, describeRun(['fsck'], r)).toBe(1);
    expect(r.stdout).toMatch(/data\/victim\.bin/);
    expect(r.stdout).not.toMatch(/data\/other\.bin/);
    expect(r.stdout).toContain(chunkId);
    expectError(['fsck'], r, 1, /fsck found \d+ problem/);
    const j = await dv(proj, ['fsck', '--json']);
    expect(j.code).toBe(1);
    const doc = JSON.parse(j.stdout) as { ok: boolean; errors: string[] };
    expect(doc.ok).toBe(false);
    expect(doc.errors.some((e) => e.includes('data/victim.bin'))).toBe(true);
  });

  it('dv cat fails with one clear error naming the file', async () => {
    const r = await dvError(proj, ['cat', 'HEAD:data/victim.bin'], 1, /corrupt/);
    expect(r.stderr).toMatch(/data\/victim\.bin/);
    expect((await dvOk(proj, ['cat', 'HEAD:data/other.bin'])).stdoutBytes.length).toBe(900_000);
  });

  it('dv checkout fails with one clear error and writes no corrupt file', async () => {
    fs.rmSync(path.join(proj, 'data/victim.bin'));
    await dvError(proj, ['checkout', 'HEAD', '--force'], 1, /data\/victim\.bin.*corrupt/);
    expect(listFiles(path.join(proj, 'data'))).toEqual(['other.bin']);
    expect(await dvJson(proj, ['status', '--json'])).toMatchObject({ deleted: ['data/victim.bin'] });
  });
});

describe('git interop through the CLI', () => {
  it('dv checkout <git sha> restores the data committed with that code', async () => {
    const proj = tmp.make('dv-e2e-git-');
    const author = { name: 'T', email: 't@example.invalid', timestamp: 1_700_000_000, timezoneOffset: 0 };
    await git.init({ fs, dir: proj, defaultBranch: 'main' });
    await dvOk(proj, ['init']);
    writeFile(proj, 'data/a.csv', 'one\n');
    await dvOk(proj, ['add', 'data']);
    const v1 = snapshotTree(path.join(proj, 'data'));
    for (const f of ['dv.lock', '.gitignore']) await git.add({ fs, dir: proj, filepath: f });
    const g1 = await git.commit({ fs, dir: proj, message: 'v1', author });
    writeFile(proj, 'data/a.csv', 'two\n');
    writeFile(proj, 'data/b.csv', 'new\n');
    await dvOk(proj, ['commit']);
    const v2 = snapshotTree(path.join(proj, 'data'));
    await git.add({ fs, dir: proj, filepath: 'dv.lock' });
    const g2 = await git.commit({ fs, dir: proj, message: 'v2', author });

    await dvOk(proj, ['checkout', g1]);
    expect(snapshotTree(path.join(proj, 'data'))).toEqual(v1);
    await dvOk(proj, ['checkout', g2.slice(0, 7)]);
    expect(snapshotTree(path.join(proj, 'data'))).toEqual(v2);
    const log = await dvJson<{ git: { commit: string; dirty: boolean } | null }[]>(proj, ['log', '--json']);
    expect(log.map((e) => e.git?.commit)).toEqual([g1, undefined]);
  });
});

// .dv/refs.log: every ref, tag, HEAD and reflog update is in it, replaying it gives what
// dv.db holds (also after dv gc compacts it), a repository without the file gets it
// seeded on its first update, and a torn last line is skipped.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gc } from '../../src/repo/gc.js';
import { checkout } from '../../src/repo/checkout.js';
import { createBranch, createTag, deleteBranch } from '../../src/repo/history.js';
import { ops, resetOps } from '../../src/repo/opcount.js';
import { readRefLog } from '../../src/repo/refs-log.js';
import { repair } from '../../src/repo/repair.js';
import type { Repo } from '../../src/repo/repo.js';
import { add, commit } from '../../src/repo/snapshot.js';
import { writeFile } from '../helpers/cli.js';
import { RepoFixtures } from '../helpers/repo.js';

const fx = new RepoFixtures();
afterAll(() => fx.closeAll());

const logOf = (repo: Repo) => path.join(repo.dvDir, 'refs.log');

/** What replaying the log gives, in the shape dv.db gives it. */
function replayed(repo: Repo) {
  const s = readRefLog(logOf(repo))!;
  return {
    refs: [...s.refs].map(([name, target]) => ({ name, target })).sort((a, b) => a.name.localeCompare(b.name)),
    head: s.head,
    reflog: s.reflog.reverse(),
  };
}

function inDb(repo: Repo) {
  return { refs: repo.refs.list(), head: (repo.db.prepare("SELECT value FROM meta WHERE key = 'HEAD'").pluck().get() as string), reflog: repo.refs.reflog() };
}

describe('.dv/refs.log', () => {
  it('replays to exactly what dv.db holds, before and after gc compacts it', async () => {
    const { root, repo } = await fx.create();
    writeFile(root, 'data/a', '1\n');
    const c1 = (await add(repo, ['data'])).commit!;
    writeFile(root, 'data/a', '2\n');
    await commit(repo, { message: 'two' });
    await createBranch(repo, 'dev', c1);
    await createBranch(repo, 'gone', c1);
    await deleteBranch(repo, 'gone', true);
    await createTag(repo, 'v1', c1);
    await checkout(repo, 'dev');
    await checkout(repo, c1);
    expect(replayed(repo)).toEqual(inDb(repo));
    expect(replayed(repo).refs.map((r) => r.name)).toEqual(['heads/dev', 'heads/main', 'tags/v1']);
    expect(fs.readFileSync(logOf(repo), 'utf8')).toContain('"ref":"heads/gone","to":null');
    await gc(repo);
    expect(replayed(repo)).toEqual(inDb(repo));
    // Compacted: one line per reflog entry, ref and HEAD; nothing for the deleted branch.
    expect(fs.readFileSync(logOf(repo), 'utf8')).not.toContain('"ref":"heads/gone"');
  });

  it('is seeded with the current state when missing, and skips a torn last line', async () => {
    const { root, repo } = await fx.create();
    writeFile(root, 'data/a', '1\n');
    const c1 = (await add(repo, ['data'])).commit!;
    await createTag(repo, 'v0', c1);
    fs.rmSync(logOf(repo));
    await createBranch(repo, 'dev', c1);
    expect(replayed(repo).refs.map((r) => r.name)).toEqual(['heads/dev', 'heads/main', 'tags/v0']);
    fs.appendFileSync(logOf(repo), '{"t":"2026-01-01T00:00:00Z","ref":"heads/x","to');
    expect(replayed(repo).refs.map((r) => r.name)).toEqual(['heads/dev', 'heads/main', 'tags/v0']);
  });

  it('repair puts back a ref whose name was damaged in dv.db and drops the damaged name; from a damaged log it keeps it', async () => {
    const { root, repo } = await fx.create();
    writeFile(root, 'data/a', '1\n');
    const c1 = (await add(repo, ['data'])).commit!;
    await createBranch(repo, 'dev', c1);
    const before = repo.refs.list();
    // A flipped byte in the refs table: 'heads/dev' reads as 'heads/dfv', still a valid name.
    repo.db.prepare("UPDATE refs SET name = 'heads/dfv' WHERE name = 'heads/dev'").run();
    expect((await repair(repo)).refsRestored.sort()).toEqual(['heads/dev', 'heads/dfv']);
    expect(repo.refs.list()).toEqual(before);
    // A flip that leaves bytes which are not UTF-8: the name reads back with U+FFFD.
    repo.db.prepare("UPDATE refs SET name = CAST(X'68656164732f89' || CAST('ev' AS BLOB) AS TEXT) WHERE name = 'heads/dev'").run();
    expect(repo.refs.list().map((r) => r.name)).toContain('heads/\ufffdev');
    await repair(repo);
    expect(repo.refs.list()).toEqual(before);
    // A log damaged before its last line cannot vouch for what it lacks: a valid ref stays.
    repo.db.prepare("UPDATE refs SET name = 'heads/dfv' WHERE name = 'heads/dev'").run();
    const lines = fs.readFileSync(logOf(repo), 'utf8').split('\n');
    lines[0] = '{"t":"2026-';
    fs.writeFileSync(logOf(repo), lines.join('\n'));
    await repair(repo);
    expect(repo.refs.list().map((r) => r.name)).toEqual(['heads/dev', 'heads/dfv', 'heads/main']);
  });

  it('a batch of ref moves (as fetch and push make) costs one fdatasync, and a failed batch logs nothing', async () => {
    const { root, repo } = await fx.create();
    writeFile(root, 'data/a', '1\n');
    const c1 = (await add(repo, ['data'])).commit!;
    resetOps();
    repo.refs.batch(() => {
      for (let i = 0; i < 10; i++) repo.refs.set(`remotes/origin/b${i}`, c1);
      repo.refs.delete('remotes/origin/b3');
    });
    expect(ops.refLogSyncs).toBe(1);
    expect(replayed(repo)).toEqual(inDb(repo));
    expect(repo.refs.list('remotes/origin/').length).toBe(9);
    const before = fs.readFileSync(logOf(repo), 'utf8');
    expect(() => repo.refs.batch(() => {
      repo.refs.set('remotes/origin/late', c1);
      throw new Error('boom');
    })).toThrow('boom');
    expect(fs.readFileSync(logOf(repo), 'utf8')).toBe(before);
    expect(repo.refs.list('remotes/origin/').map((r) => r.name)).not.toContain('remotes/origin/late');
    // Outside a batch, each update is synced on its own, as before.
    resetOps();
    await createBranch(repo, 'x1', c1);
    await createBranch(repo, 'x2', c1);
    expect(ops.refLogSyncs).toBe(2);
    expect(replayed(repo)).toEqual(inDb(repo));
  });
});

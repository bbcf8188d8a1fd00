// The no-op fast path: once a snapshot mirrors HEAD, status and commit decide "clean"
// from the scan's fingerprint alone. These tests pin that the shortcut is taken, and
// that it never hides a change (content, size, mode, a new or a deleted file).
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Repo } from '../../src/repo/repo.js';
import { add, commit } from '../../src/repo/snapshot.js';
import { status } from '../../src/repo/status.js';
import { StatCache } from '../../src/repo/workspace.js';
import { ageFiles, setMtime, writeFile } from '../helpers/cli.js';
import { RepoFixtures } from '../helpers/repo.js';

const fx = new RepoFixtures();
afterEach(() => fx.closeAll());

describe('no-op fast path', () => {
  let root: string;
  let repo: Repo;
  beforeEach(async () => {
    ({ root, repo } = await fx.create());
    for (let i = 0; i < 30; i++) writeFile(root, `data/d${i % 3}/f${i}.csv`, `row,${i}\n`);
    ageFiles(path.join(root, 'data'));
    await add(repo, ['data']);
  });

  const peek = () => new StatCache(repo.db).peek();

  it('records a fingerprint after a complete snapshot, and a no-op commit changes nothing', async () => {
    const p = peek();
    expect(p.mirror).toBe((await repo.readCommit(repo.headCommit()!)).tree);
    expect(p.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(p.files).toBe(30);
    expect((await commit(repo)).commit).toBeNull();
    expect(await status(repo)).toMatchObject({ added: [], modified: [], deleted: [] });
  });

  it('trusts the fingerprint: bytes rewritten behind its back with the same stat look unchanged', async () => {
    const f = path.join(root, 'data/d0/f0.csv');
    const st = fs.statSync(f);
    fs.writeFileSync(f, 'row,X\n'); // same size
    fs.utimesSync(f, st.atime, st.mtime);
    // Same inode, size, mode and mtime: by design (as git), not re-read.
    expect((await status(repo)).modified).toEqual([]);
  });

  it('sees a same-size edit with a new mtime, a mode change, a new file and a deleted file', async () => {
    const f = path.join(root, 'data/d0/f0.csv');
    fs.writeFileSync(f, 'row,X\n');
    setMtime(f, Date.now() - 30_000);
    expect((await status(repo)).modified).toEqual(['data/d0/f0.csv']);
    fs.writeFileSync(f, 'row,0\n');
    setMtime(f, Date.now() - 20_000); // content back, stat different: still clean, re-read
    expect(await status(repo)).toMatchObject({ added: [], modified: [], deleted: [] });

    fs.chmodSync(path.join(root, 'data/d1/f1.csv'), 0o755);
    writeFile(root, 'data/d2/new.csv', 'new\n');
    fs.rmSync(path.join(root, 'data/d2/f2.csv'));
    const s = await status(repo);
    expect(s).toMatchObject({ added: ['data/d2/new.csv'], modified: ['data/d1/f1.csv'], deleted: ['data/d2/f2.csv'] });
    expect((await commit(repo)).commit).toMatch(/^[0-9a-f]{64}$/);
  });
});

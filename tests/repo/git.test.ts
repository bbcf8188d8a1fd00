// Git interop without a git binary: dv.lock carries the data version in git, and
// `dv checkout <git revision>` restores the data committed with that code.
import fs from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import { afterEach, describe, expect, it } from 'vitest';
import { checkout } from '../../src/repo/checkout.js';
import { add, commit } from '../../src/repo/snapshot.js';
import { DvError } from '../../src/store/errors.js';
import { snapshotTree, writeFile, writeRandomFile } from '../helpers/cli.js';
import { RepoFixtures } from '../helpers/repo.js';

const fx = new RepoFixtures();
afterEach(() => fx.closeAll());

const author = { name: 'Test', email: 'test@example.invalid', timestamp: 1_700_000_000, timezoneOffset: 0 };

async function gitCommit(dir: string, files: string[], message: string): Promise<string> {
  for (const filepath of files) await git.add({ fs, dir, filepath });
  return git.commit({ fs, dir, message, author, committer: author });
}

describe('git interop', () => {
  it('dv checkout <git commit> restores the data version committed with it', async () => {
    const { root, repo } = await fx.create('dv-git-');
    await git.init({ fs, dir: root, defaultBranch: 'main' });
    writeFile(root, 'train.py', 'print("v1")\n');
    const g0 = await gitCommit(root, ['train.py'], 'code only');

    writeFile(root, 'data/a.csv', 'a v1\n');
    writeRandomFile(root, 'data/blob.bin', 400_000, 'git-v1');
    const d1 = (await add(repo, ['data'], { message: 'data v1' })).commit!;
    const lock1 = JSON.parse(fs.readFileSync(path.join(root, 'dv.lock'), 'utf8'));
    expect(lock1).toEqual({ commit: d1, paths: ['data'] });
    // The data itself is kept out of git.
    expect(fs.readFileSync(path.join(root, '.gitignore'), 'utf8').split('\n')).toContain('/data');
    expect((await repo.readCommit(d1)).git).toEqual({ commit: g0, dirty: false });
    const v1 = snapshotTree(path.join(root, 'data'));
    const g1 = await gitCommit(root, ['dv.lock', '.gitignore'], 'data v1');

    writeFile(root, 'data/a.csv', 'a v2\n');
    writeFile(root, 'data/new.csv', 'new\n');
    writeFile(root, 'train.py', 'print("v2")\n'); // uncommitted code change: dirty
    const d2 = (await commit(repo, { message: 'data v2' })).commit!;
    expect((await repo.readCommit(d2)).git).toEqual({ commit: g1, dirty: true });
    expect(JSON.parse(fs.readFileSync(path.join(root, 'dv.lock'), 'utf8')).commit).toBe(d2);
    const v2 = snapshotTree(path.join(root, 'data'));
    const g2 = await gitCommit(root, ['dv.lock', 'train.py'], 'data v2');

    // Full git sha -> data v1.
    const r1 = await checkout(repo, g1);
    expect(r1.commit).toBe(d1);
    expect(snapshotTree(path.join(root, 'data'))).toEqual(v1);
    // Abbreviated sha and git: prefix -> data v2.
    const r2 = await checkout(repo, g2.slice(0, 8));
    expect(r2.commit).toBe(d2);
    expect(snapshotTree(path.join(root, 'data'))).toEqual(v2);
    expect((await checkout(repo, `git:${g1}`)).commit).toBe(d1);
    expect(snapshotTree(path.join(root, 'data'))).toEqual(v1);
    // A git branch name works too.
    expect((await checkout(repo, 'git:main')).commit).toBe(d2);

    // A git commit from before dv was used has no dv.lock.
    await expect(checkout(repo, g0)).rejects.toThrow(/no dv\.lock/);
    // Neither a dv ref nor a git revision.
    const e = await checkout(repo, 'not-a-revision').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DvError);
    expect((e as Error).message).toMatch(/unknown ref 'not-a-revision'/);
    expect(snapshotTree(path.join(root, 'data'))).toEqual(v2);
  });

  it('outside git, commits record no code version and no dv.lock is written', async () => {
    const { root, repo } = await fx.create('dv-nogit-');
    writeFile(root, 'data/a.csv', 'a\n');
    const d1 = (await add(repo, ['data'])).commit!;
    expect((await repo.readCommit(d1)).git).toBeNull();
    expect(fs.existsSync(path.join(root, 'dv.lock'))).toBe(false);
    expect(fs.existsSync(path.join(root, '.gitignore'))).toBe(false);
  });
});

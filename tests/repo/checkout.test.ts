// dv checkout through the library: only differing files are rewritten, files not in
// the target go, the executable bit comes back, uncommitted work is protected.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkout } from '../../src/repo/checkout.js';
import { Repo } from '../../src/repo/repo.js';
import { add, commit } from '../../src/repo/snapshot.js';
import { status } from '../../src/repo/status.js';
import { createBranch } from '../../src/repo/history.js';
import { DvError } from '../../src/store/errors.js';
import { ageFiles, listFiles, snapshotTree, writeFile, writeRandomFile } from '../helpers/cli.js';
import { RepoFixtures } from '../helpers/repo.js';

const fx = new RepoFixtures();
afterEach(() => fx.closeAll());

describe('checkout', () => {
  let root: string;
  let repo: Repo;
  let c1: string;
  let c2: string;
  let v1: Record<string, string>;
  let v2: Record<string, string>;
  const data = () => path.join(root, 'data');
  const stamp = (rel: string) => {
    const st = fs.statSync(path.join(root, rel));
    return { ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
  };

  beforeEach(async () => {
    ({ root, repo } = await fx.create());
    writeRandomFile(root, 'data/keep.bin', 700_000, 'keep');
    writeFile(root, 'data/change.csv', 'v1\n');
    writeFile(root, 'data/gone.csv', 'only in v1\n');
    writeFile(root, 'data/sub/deep.csv', 'deep v1\n');
    writeFile(root, 'data/tool.sh', '#!/bin/sh\necho tool\n', 0o644);
    ageFiles(data());
    c1 = (await add(repo, ['data'], { message: 'v1' })).commit!;
    v1 = snapshotTree(data());

    writeFile(root, 'data/change.csv', 'v2 is longer\n');
    fs.rmSync(path.join(root, 'data/gone.csv'));
    fs.rmSync(path.join(root, 'data/sub'), { recursive: true });
    writeFile(root, 'data/new.csv', 'new in v2\n');
    fs.chmodSync(path.join(root, 'data/tool.sh'), 0o755);
    ageFiles(data());
    c2 = (await commit(repo, { message: 'v2' })).commit!;
    v2 = snapshotTree(data());
    expect(v2['tool.sh']).toMatch(/ 755$/);
  });

  it('makes the workspace byte-identical to the target, rewriting only files that differ', async () => {
    const keepBefore = stamp('data/keep.bin');
    const r = await checkout(repo, c1);
    expect(r.commit).toBe(c1);
    expect(r.branch).toBeNull();
    expect(r.written.sort()).toEqual(['data/change.csv', 'data/gone.csv', 'data/sub/deep.csv', 'data/tool.sh']);
    expect(r.removed).toEqual(['data/new.csv']);
    expect(snapshotTree(data())).toEqual(v1);
    expect(fs.statSync(path.join(root, 'data/tool.sh')).mode & 0o777).toBe(0o644);
    // The unchanged file was not touched at all: same inode, mtime and ctime.
    expect(stamp('data/keep.bin')).toEqual(keepBefore);
    expect(repo.head()).toEqual({ branch: null, commit: c1 });
    expect(await status(repo)).toMatchObject({ branch: null, commit: c1, added: [], modified: [], deleted: [] });

    const r2 = await checkout(repo, 'main');
    expect(r2).toMatchObject({ commit: c2, branch: 'main' });
    expect(r2.removed.sort()).toEqual(['data/gone.csv', 'data/sub/deep.csv']);
    expect(snapshotTree(data())).toEqual(v2);
    // The executable bit is restored.
    expect(fs.statSync(path.join(root, 'data/tool.sh')).mode & 0o777).toBe(0o755);
    // A directory emptied by the checkout is gone too.
    expect(fs.existsSync(path.join(root, 'data/sub'))).toBe(false);
    expect(stamp('data/keep.bin')).toEqual(keepBefore);
    expect(repo.head()).toEqual({ branch: 'main', commit: c2 });

    // Checking out what is already there writes nothing.
    const again = await checkout(repo, 'main');
    expect(again.written).toEqual([]);
    expect(again.removed).toEqual([]);
  });

  it('restores deleted files and leaves untracked files alone', async () => {
    fs.rmSync(path.join(root, 'data/change.csv'));
    fs.rmSync(path.join(root, 'data/keep.bin'));
    writeFile(root, 'data/untracked.txt', 'mine\n');
    writeFile(root, 'elsewhere.txt', 'outside tracked paths\n');
    const r = await checkout(repo, 'HEAD');
    expect(r.written.sort()).toEqual(['data/change.csv', 'data/keep.bin']);
    expect(fs.readFileSync(path.join(root, 'data/untracked.txt'), 'utf8')).toBe('mine\n');
    expect(fs.readFileSync(path.join(root, 'elsewhere.txt'), 'utf8')).toBe('outside tracked paths\n');
    const { 'untracked.txt': _, ...rest } = snapshotTree(data());
    expect(rest).toEqual(v2);
    // Untracked files survive a switch to another version too.
    await checkout(repo, c1);
    expect(fs.readFileSync(path.join(root, 'data/untracked.txt'), 'utf8')).toBe('mine\n');
  });

  it('refuses to overwrite uncommitted changes and then changes nothing; --force overwrites', async () => {
    writeFile(root, 'data/change.csv', 'my uncommitted edit\n');
    const before = snapshotTree(data());
    const keep = stamp('data/keep.bin');
    const e = await checkout(repo, c1).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DvError);
    expect((e as DvError).message).toMatch(/uncommitted changes in data\/change\.csv.*--force/);
    // Nothing changed: not the edited file, not files the checkout would have removed or restored.
    expect(snapshotTree(data())).toEqual(before);
    expect(fs.existsSync(path.join(root, 'data/new.csv'))).toBe(true);
    expect(fs.existsSync(path.join(root, 'data/gone.csv'))).toBe(false);
    expect(stamp('data/keep.bin')).toEqual(keep);
    expect(repo.head()).toEqual({ branch: 'main', commit: c2 });
    expect(listFiles(path.join(repo.dvDir, 'tmp'))).toEqual([]);

    const r = await checkout(repo, c1, { force: true });
    expect(r.commit).toBe(c1);
    expect(snapshotTree(data())).toEqual(v1);
  });

  it('protects a modified file the target deletes, and an untracked file the target would overwrite', async () => {
    writeFile(root, 'data/new.csv', 'edited, and not in v1\n');
    await expect(checkout(repo, c1)).rejects.toThrow(/uncommitted changes in data\/new\.csv/);
    expect(fs.readFileSync(path.join(root, 'data/new.csv'), 'utf8')).toBe('edited, and not in v1\n');
    await checkout(repo, 'main', { force: true });
    expect(snapshotTree(data())).toEqual(v2);

    // data/gone.csv is not in v2 (HEAD) but is in v1: an untracked file with other content is work.
    writeFile(root, 'data/gone.csv', 'a new file of mine\n');
    await expect(checkout(repo, c1)).rejects.toThrow(/uncommitted changes in data\/gone\.csv/);
    expect(fs.readFileSync(path.join(root, 'data/gone.csv'), 'utf8')).toBe('a new file of mine\n');
    expect(repo.head()).toEqual({ branch: 'main', commit: c2 });
    // An untracked file that already has the target's content is no conflict.
    writeFile(root, 'data/gone.csv', 'only in v1\n');
    await checkout(repo, c1);
    expect(snapshotTree(data())).toEqual(v1);
  });

  it('a chmod alone is an uncommitted change too', async () => {
    fs.chmodSync(path.join(root, 'data/tool.sh'), 0o644);
    expect((await status(repo)).modified).toEqual(['data/tool.sh']);
    // Same content as HEAD, so it is safe to restore: v1 also has mode 644 here.
    await checkout(repo, c1);
    expect(snapshotTree(data())).toEqual(v1);
  });

  it('checkout of paths restores only those and keeps HEAD', async () => {
    const r = await checkout(repo, c1, { paths: ['data/change.csv'] });
    expect(r.written).toEqual(['data/change.csv']);
    expect(fs.readFileSync(path.join(root, 'data/change.csv'), 'utf8')).toBe('v1\n');
    expect(fs.existsSync(path.join(root, 'data/new.csv'))).toBe(true);
    expect(repo.head()).toEqual({ branch: 'main', commit: c2 });
    expect((await status(repo)).modified).toEqual(['data/change.csv']);

    // A directory path.
    await checkout(repo, c1, { paths: ['data/sub'] });
    expect(fs.readFileSync(path.join(root, 'data/sub/deep.csv'), 'utf8')).toBe('deep v1\n');
    expect(repo.head()).toEqual({ branch: 'main', commit: c2 });
  });

  it('switching branches moves HEAD; committing on a detached HEAD does not move a branch', async () => {
    await createBranch(repo, 'old', c1);
    const r = await checkout(repo, 'old');
    expect(r).toMatchObject({ commit: c1, branch: 'old' });
    expect(repo.head()).toEqual({ branch: 'old', commit: c1 });
    writeFile(root, 'data/change.csv', 'on old\n');
    const c3 = (await commit(repo)).commit!;
    expect(repo.refs.get('heads/old')).toBe(c3);
    expect(repo.refs.get('heads/main')).toBe(c2);

    await checkout(repo, c2);
    writeFile(root, 'data/change.csv', 'detached\n');
    const c4 = (await commit(repo)).commit!;
    expect(repo.head()).toEqual({ branch: null, commit: c4 });
    expect(repo.refs.get('heads/main')).toBe(c2);
    expect(repo.refs.get('heads/old')).toBe(c3);
  });

  it('a file that becomes a directory and back; untracked files in the way are protected', async () => {
    // v3: data/change.csv becomes a directory.
    fs.rmSync(path.join(root, 'data/change.csv'));
    writeFile(root, 'data/change.csv/inner.csv', 'inner\n');
    const c3 = (await commit(repo, { message: 'file -> dir' })).commit!;
    const v3 = snapshotTree(data());

    // An untracked file inside the directory that c2 turns back into a file.
    writeFile(root, 'data/change.csv/mine.txt', 'my notes\n');
    await expect(checkout(repo, c2)).rejects.toThrow(/uncommitted changes in data\/change\.csv\/mine\.txt/);
    expect(fs.readFileSync(path.join(root, 'data/change.csv/mine.txt'), 'utf8')).toBe('my notes\n');
    expect(repo.head()).toEqual({ branch: 'main', commit: c3 });
    fs.rmSync(path.join(root, 'data/change.csv/mine.txt'));
    await checkout(repo, c2);
    expect(snapshotTree(data())).toEqual(v2);
    await checkout(repo, 'main');
    expect(snapshotTree(data())).toEqual(v3);

    // An untracked file where c3 needs a directory.
    await checkout(repo, c2);
    writeFile(root, 'data/sub', 'a file where v1 has a directory\n');
    await expect(checkout(repo, c1)).rejects.toThrow(/uncommitted changes in data\/sub\b/);
    expect(fs.readFileSync(path.join(root, 'data/sub'), 'utf8')).toBe('a file where v1 has a directory\n');
    expect(repo.head()).toEqual({ branch: null, commit: c2 });
    // --force replaces it.
    await checkout(repo, c1, { force: true });
    expect(snapshotTree(data())).toEqual(v1);
  });

  it('an unknown ref is an error and changes nothing', async () => {
    const before = snapshotTree(data());
    await expect(checkout(repo, 'no-such-ref')).rejects.toThrow(/unknown ref 'no-such-ref'/);
    expect(snapshotTree(data())).toEqual(before);
    expect(repo.head()).toEqual({ branch: 'main', commit: c2 });
  });
});

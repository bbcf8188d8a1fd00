// Scenario tests of dv inside an ordinary git project, with the real git binary and the
// real CLI: the sequences that lost data before (a data version committed on a git
// feature branch freed by gc; a colleague's clone unable to check it out), and what
// git users expect (dv.lock and .gitignore, git revisions everywhere, git's identity).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dv, dvJson, dvOk, ensureBuilt, snapshotTree, TempDirs, writeFile } from '../helpers/cli.js';
import { useS3Server } from '../remote/helpers.js';

const tmp = new TempDirs();

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Ada', GIT_AUTHOR_EMAIL: 'ada@example.invalid',
  GIT_COMMITTER_NAME: 'Ada', GIT_COMMITTER_EMAIL: 'ada@example.invalid',
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, encoding: 'utf8' });
}

/** A git project with dv initialised and data/ committed on git's main. */
async function project(): Promise<string> {
  const proj = tmp.make('dv-git-');
  git(proj, 'init', '-q', '-b', 'main');
  writeFile(proj, 'train.py', 'print("v1")\n');
  await dvOk(proj, ['init']);
  writeFile(proj, 'data/a.csv', 'a,1\n');
  writeFile(proj, 'data/b.csv', 'b,1\n');
  await dvOk(proj, ['add', 'data', '-m', 'data v1']);
  git(proj, 'add', '-A');
  git(proj, 'commit', '-q', '-m', 'code and data v1');
  return proj;
}

// One s3rver for the file (tests/remote/helpers.ts), started before the tests.
const suite = useS3Server();
beforeAll(() => ensureBuilt());
afterAll(() => tmp.cleanup());

describe('dv in a git project', () => {
  it('init ignores .dv/ in git (keys.json holds secrets), and git add -A never commits it', async () => {
    const proj = await project();
    expect(fs.readFileSync(path.join(proj, '.gitignore'), 'utf8').split('\n')).toEqual(expect.arrayContaining(['/.dv/', '/data']));
    expect(git(proj, 'ls-files')).not.toMatch(/^\.dv\//m);
    expect(git(proj, 'ls-files').split('\n')).toEqual(expect.arrayContaining(['dv.lock', '.gitignore', 'train.py']));
  });

  it('a data version committed on a git feature branch survives gc on main and checks out again', async () => {
    const proj = await project();
    const v1 = snapshotTree(path.join(proj, 'data'));
    git(proj, 'checkout', '-q', '-b', 'feature');
    await dvOk(proj, ['checkout', 'git:HEAD']);
    writeFile(proj, 'data/a.csv', 'a,2 feature\n');
    writeFile(proj, 'data/c.csv', 'only on the feature\n');
    const featureData = (await dvOk(proj, ['commit', '-m', 'feature data'])).stdout.trim();
    const v2 = snapshotTree(path.join(proj, 'data'));
    git(proj, 'commit', '-q', '-am', 'feature: new data');

    git(proj, 'checkout', '-q', 'main');
    await dvOk(proj, ['checkout', 'git:HEAD']);
    expect(snapshotTree(path.join(proj, 'data'))).toEqual(v1);
    const dry = await dvJson<{ roots: Record<string, string[]> }>(proj, ['gc', '--dry-run', '--json']);
    expect(dry.roots.git).toContain(featureData);
    await dvOk(proj, ['gc']);

    git(proj, 'checkout', '-q', 'feature');
    await dvOk(proj, ['checkout', 'git:HEAD']);
    expect(snapshotTree(path.join(proj, 'data'))).toEqual(v2);
    // dv diff and dv log take git revisions too.
    const d = await dvJson<{ path: string; status: string }[]>(proj, ['diff', 'git:main', 'git:feature', '--json']);
    expect(d.map((c) => `${c.status} ${c.path}`)).toEqual(['modified data/a.csv', 'added data/c.csv']);
    const log = await dvJson<{ id: string }[]>(proj, ['log', 'feature', '--json']);
    expect(log[0].id).toBe(featureData);
  });

  it('a stashed dv.lock keeps its data version too', async () => {
    const proj = await project();
    writeFile(proj, 'data/a.csv', 'work in progress\n');
    const wip = (await dvOk(proj, ['commit', '-m', 'wip'])).stdout.trim();
    git(proj, 'stash', '-q');
    await dvOk(proj, ['checkout', 'git:HEAD']);
    // Nothing but the stash names the wip version now once the reflog has expired.
    const cfg = path.join(proj, '.dv', 'config.json');
    fs.writeFileSync(cfg, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfg, 'utf8')), reflogExpireDays: 0 }));
    await dvOk(proj, ['gc']);
    git(proj, 'stash', 'pop', '-q');
    expect(JSON.parse(fs.readFileSync(path.join(proj, 'dv.lock'), 'utf8')).commit).toBe(wip);
    await dvOk(proj, ['checkout', wip]);
    expect(fs.readFileSync(path.join(proj, 'data/a.csv'), 'utf8')).toBe('work in progress\n');
  });

  it("a colleague's git clone plus dv clone checks out a feature branch's data version; remote gc keeps it (pins)", async () => {
    const proj = await project();
    const env = suite.env;
    const url = `s3://${suite.s3.bucket}/pins-${path.basename(proj)}`;
    await dvOk(proj, ['remote', 'add', 'origin', url, '--endpoint', suite.s3.endpoint], { env });
    await dvOk(proj, ['push'], { env });
    git(proj, 'checkout', '-q', '-b', 'feature');
    await dvOk(proj, ['checkout', 'git:HEAD']);
    writeFile(proj, 'data/b.csv', 'b,2 feature\n');
    await dvOk(proj, ['commit', '-m', 'feature data']);
    const v2 = snapshotTree(path.join(proj, 'data'));
    git(proj, 'commit', '-q', '-am', 'feature data');
    // HEAD is detached on the dv side: a plain push still sends the pinned version.
    const pushed = await dvJson<{ pinned: string[] }>(proj, ['push', '--json'], { env });
    expect(pushed.pinned.length).toBeGreaterThanOrEqual(1);
    expect((await dv(proj, ['gc', '--remote', '--grace', '0s'], { env })).code).toBe(0);

    const colleague = tmp.make('dv-colleague-');
    execFileSync('git', ['clone', '-q', proj, colleague]);
    expect(fs.existsSync(path.join(colleague, 'data'))).toBe(false); // git ignores it
    await dvOk(colleague, ['init', '-q']);
    await dvOk(colleague, ['remote', 'add', 'origin', url, '--endpoint', suite.s3.endpoint], { env });
    await dvOk(colleague, ['fetch'], { env });
    git(colleague, 'checkout', '-q', 'feature');
    await dvOk(colleague, ['checkout', 'git:feature']);
    expect(snapshotTree(path.join(colleague, 'data'))).toEqual(v2);
  });

  it("commits record git's identity and the code version, also those made by dv run", async () => {
    const proj = tmp.make('dv-git-id-');
    git(proj, 'init', '-q', '-b', 'main');
    git(proj, 'config', 'user.name', 'Grace Hopper');
    git(proj, 'config', 'user.email', 'grace@example.invalid');
    writeFile(proj, 'x.txt', 'code\n');
    git(proj, 'add', 'x.txt');
    git(proj, 'commit', '-q', '-m', 'code');
    const head = git(proj, 'rev-parse', 'HEAD').trim();
    await dvOk(proj, ['init', '-q']);
    writeFile(proj, 'in/a.txt', 'hello\n');
    await dvOk(proj, ['add', 'in'], { env: { DV_AUTHOR: undefined, GIT_AUTHOR_NAME: undefined, GIT_AUTHOR_EMAIL: undefined } });
    writeFile(proj, 'dv.yaml', 'stages:\n  copy:\n    foreach: in/*.txt\n    cmd: cp ${in} ${out}\n    outs: out/\n');
    await dvOk(proj, ['run'], { env: { DV_AUTHOR: undefined } });
    const log = await dvJson<{ author: string; git: { commit: string } | null; run: string | null }[]>(proj, ['log', '--json']);
    expect(log[1].author).toBe('Grace Hopper <grace@example.invalid>');
    expect(log[0].run).not.toBeNull();
    expect(log[0].git?.commit).toBe(head);
    expect(log[1].git?.commit).toBe(head);
  });

  it('-q silences init; -C with a relative directory works for every command, twice in a row', async () => {
    const parent = tmp.make('dv-cwd-');
    fs.mkdirSync(path.join(parent, 'p'));
    const init = await dvOk(parent, ['-q', '-C', 'p', 'init']);
    expect(init.stdout).toBe('');
    writeFile(parent, 'p/data/a.txt', '1\n');
    await dvOk(parent, ['-C', 'p', 'add', 'data']);
    writeFile(parent, 'p/data/b.txt', '2\n');
    await dvOk(parent, ['-C', 'p', 'add', 'data']);
    expect((await dvJson<unknown[]>(parent, ['-C', 'p', 'log', '--json'])).length).toBe(2);
    const bad = await dv(parent, ['-C', 'nowhere', 'status']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^dv: error: cannot change to directory 'nowhere'/);
  });
});

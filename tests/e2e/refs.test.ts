// Refs as git users expect them, through the real CLI: checking out a branch or HEAD
// stays on it, anything else detaches with a note, leaving commits behind warns and the
// reflog (and gc) keep them, branch -d refuses unmerged work, and merge promotes a
// branch (fast-forward, two-parent commit, conflicts resolved with --ours/--theirs).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dv, dvJson, dvOk, ensureBuilt, snapshotTree, TempDirs, writeFile } from '../helpers/cli.js';

const tmp = new TempDirs();

interface LogEntry { id: string; parents: string[]; message: string }

async function repoWithData(): Promise<string> {
  const proj = tmp.make('dv-refs-');
  await dvOk(proj, ['init', '-q']);
  writeFile(proj, 'data/a.csv', 'a,1\n');
  writeFile(proj, 'data/b.csv', 'b,1\n');
  await dvOk(proj, ['add', 'data', '-m', 'v1']);
  return proj;
}

const read = (proj: string, rel: string) => fs.readFileSync(path.join(proj, rel), 'utf8');
const head = async (proj: string) => dvJson<{ branch: string | null; commit: string }>(proj, ['status', '--json']);

beforeAll(() => ensureBuilt());
afterAll(() => tmp.cleanup());

describe('checkout and HEAD', () => {
  it('dv checkout HEAD stays on the branch, so the next commit moves it', async () => {
    const proj = await repoWithData();
    await dvOk(proj, ['checkout', 'HEAD']);
    expect((await head(proj)).branch).toBe('main');
    writeFile(proj, 'data/a.csv', 'a,2\n');
    const c = (await dvOk(proj, ['commit', '-m', 'v2'])).stdout.trim();
    expect((await dvJson<{ name: string; commit: string }[]>(proj, ['branch', '--json']))[0]).toMatchObject({ name: 'main', commit: c });
  });

  it('a tag detaches with a note; leaving a commit made there warns, the reflog and gc keep it, HEAD@{N} gets it back', async () => {
    const proj = await repoWithData();
    await dvOk(proj, ['tag', 'v1']);
    const r = await dvOk(proj, ['checkout', 'v1']);
    expect(r.stdout).toMatch(/note: HEAD is detached at [0-9a-f]{12} \('v1'\)/);
    writeFile(proj, 'data/b.csv', 'b,detached work\n');
    const lost = (await dvOk(proj, ['commit', '-m', 'detached work'])).stdout.trim();
    // The warning says how long the reflog keeps it: the configured expiry.
    const config = path.join(proj, '.dv', 'config.json');
    fs.writeFileSync(config, JSON.stringify({ ...JSON.parse(fs.readFileSync(config, 'utf8')), reflogExpireDays: 7 }));
    const back = await dvOk(proj, ['checkout', 'main']);
    expect(back.stderr).toMatch(new RegExp(`^warning: leaving 1 commit behind, not on any branch or tag \\(newest ${lost.slice(0, 12)}\\); the reflog keeps it for 7 days`));
    expect(read(proj, 'data/b.csv')).toBe('b,1\n');

    const reflog = await dvJson<{ new: string; message: string; selector: string }[]>(proj, ['reflog', '--json']);
    expect(reflog[0].message).toBe('checkout: moving to main');
    expect(reflog[1]).toMatchObject({ new: lost, selector: 'HEAD@{1}' });
    const dry = await dvJson<{ roots: { reflog: string[] } }>(proj, ['gc', '--dry-run', '--json']);
    expect(dry.roots.reflog).toContain(lost);
    await dvOk(proj, ['gc']);
    await dvOk(proj, ['branch', 'rescued', 'HEAD@{1}']);
    await dvOk(proj, ['checkout', 'rescued']);
    expect(read(proj, 'data/b.csv')).toBe('b,detached work\n');
  });

  it('a path that matches nothing in the version is an error and changes nothing', async () => {
    const proj = await repoWithData();
    writeFile(proj, 'data/a.csv', 'edited\n');
    const r = await dv(proj, ['checkout', 'HEAD', 'no/such/path']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dv: error: path 'no\/such\/path' did not match any file in [0-9a-f]{12}; nothing changed\n$/);
    expect(read(proj, 'data/a.csv')).toBe('edited\n');
  });
});

describe('dv branch -d', () => {
  it('refuses an unmerged branch and says how; -D deletes it and says how to get it back; gc keeps its data a while', async () => {
    const proj = await repoWithData();
    await dvOk(proj, ['branch', 'exp']);
    await dvOk(proj, ['checkout', 'exp']);
    writeFile(proj, 'data/c.csv', 'experiment\n');
    const tip = (await dvOk(proj, ['add', 'data', '-m', 'exp'])).stdout.trim();
    await dvOk(proj, ['checkout', 'main']);
    const refused = await dv(proj, ['branch', '-d', 'exp']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^dv: error: branch 'exp' is not fully merged: .*'dv branch -D exp'/);
    expect((await dvJson<{ name: string }[]>(proj, ['branch', '--json'])).map((b) => b.name)).toEqual(['exp', 'main']);

    const del = await dvOk(proj, ['branch', '-D', 'exp']);
    expect(del.stdout).toBe(`Deleted branch exp (was ${tip.slice(0, 12)}); 'dv branch exp ${tip.slice(0, 12)}' brings it back\n`);
    await dvOk(proj, ['gc']);
    await dvOk(proj, ['branch', 'exp', tip.slice(0, 12)]);
    expect((await dv(proj, ['cat', 'exp:data/c.csv'])).stdout).toBe('experiment\n');
    // A merged branch goes with -d.
    await dvOk(proj, ['branch', 'done']);
    await dvOk(proj, ['branch', '-d', 'done']);
  });
});

describe('dv merge', () => {
  async function staging(): Promise<string> {
    const proj = await repoWithData();
    await dvOk(proj, ['branch', 'staging']);
    await dvOk(proj, ['checkout', 'staging']);
    writeFile(proj, 'data/b.csv', 'b,tested on staging\n');
    await dvOk(proj, ['commit', '-m', 'staging run']);
    await dvOk(proj, ['checkout', 'main']);
    return proj;
  }

  it('fast-forwards main to a tested staging branch', async () => {
    const proj = await staging();
    const r = await dvJson<{ status: string; commit: string }>(proj, ['merge', 'staging', '--json']);
    expect(r.status).toBe('fast-forward');
    expect(read(proj, 'data/b.csv')).toBe('b,tested on staging\n');
    expect((await head(proj))).toMatchObject({ branch: 'main', commit: r.commit });
    expect((await dvJson<{ status: string }>(proj, ['merge', 'staging', '--json'])).status).toBe('up-to-date');
  });

  it('merges diverged branches into a two-parent commit that log --graph draws', async () => {
    const proj = await staging();
    writeFile(proj, 'data/a.csv', 'a,changed on main\n');
    const mainTip = (await dvOk(proj, ['commit', '-m', 'main change'])).stdout.trim();
    const r = await dvJson<{ status: string; commit: string }>(proj, ['merge', 'staging', '--json', '-m', 'promote staging']);
    expect(r.status).toBe('merged');
    expect(read(proj, 'data/a.csv')).toBe('a,changed on main\n');
    expect(read(proj, 'data/b.csv')).toBe('b,tested on staging\n');
    const log = await dvJson<LogEntry[]>(proj, ['log', '--json']);
    expect(log[0]).toMatchObject({ id: r.commit, message: 'promote staging' });
    expect(log[0].parents[0]).toBe(mainTip);
    expect(log.length).toBe(4); // merge, both sides, v1
    const graph = (await dvOk(proj, ['log', '--graph', '--oneline'])).stdout.split('\n');
    expect(graph[0]).toMatch(/^\* [0-9a-f]{12} promote staging/);
    expect(graph[1]).toBe('|\\');
    expect(graph.some((l) => /^\| \* [0-9a-f]{12} staging run/.test(l))).toBe(true);
    expect((await dvJson<{ added: string[]; modified: string[] }>(proj, ['status', '--json'])).modified).toEqual([]);
  });

  it('a conflict changes nothing; --resolve, --theirs and commit conclude it; --abort gives up', async () => {
    const proj = await staging();
    writeFile(proj, 'data/b.csv', 'b,changed on main too\n');
    writeFile(proj, 'data/a.csv', 'a,main only\n');
    const mainTip = (await dvOk(proj, ['commit', '-m', 'main change'])).stdout.trim();
    const before = snapshotTree(path.join(proj, 'data'));
    const stopped = await dv(proj, ['merge', 'staging']);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(/both modified: data\/b\.csv/);
    expect(stopped.stderr).toMatch(/nothing was changed/);
    expect(snapshotTree(path.join(proj, 'data'))).toEqual(before);
    expect((await head(proj)).commit).toBe(mainTip);

    expect((await dv(proj, ['merge', 'staging', '--resolve'])).code).toBe(1);
    const st = await dvJson<{ merge: { conflicts: string[] } }>(proj, ['status', '--json']);
    expect(st.merge.conflicts).toEqual(['data/b.csv']);
    const early = await dv(proj, ['commit']);
    expect(early.stderr).toMatch(/unresolved conflicts: data\/b\.csv/);
    await dvOk(proj, ['merge', '--abort']);
    expect(snapshotTree(path.join(proj, 'data'))).toEqual(before);

    expect((await dv(proj, ['merge', 'staging', '--resolve'])).code).toBe(1);
    await dvOk(proj, ['checkout', '--theirs', 'data/b.csv']);
    const merged = (await dvOk(proj, ['commit'])).stdout.trim();
    const log = await dvJson<LogEntry[]>(proj, ['log', '-n', '1', '--json']);
    expect(log[0]).toMatchObject({ id: merged, message: 'Merge staging into main' });
    expect(log[0].parents.length).toBe(2);
    expect(read(proj, 'data/b.csv')).toBe('b,tested on staging\n');
    expect(read(proj, 'data/a.csv')).toBe('a,main only\n');
    expect((await dvJson<{ merge: unknown }>(proj, ['status', '--json'])).merge).toBeNull();
  });
});

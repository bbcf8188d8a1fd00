// Scenario tests of the ways a version could be lost or the workspace clobbered, each
// replayed with real dv processes: racing writers over a stale lock, a tracked
// directory moved to another disk behind a symlink, symlinks themselves, a checkout
// killed half-way, Ctrl-C, tracked paths that are exactly what was added, and fetch
// after gc.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dv, dvJson, dvOk, ensureBuilt, snapshotTree, spawnDv, TempDirs, waitFor, writeFile } from '../helpers/cli.js';
import { useS3Server } from '../remote/helpers.js';

const tmp = new TempDirs();
// One s3rver for the file (tests/remote/helpers.ts), started before the tests.
const suite = useS3Server();
beforeAll(() => ensureBuilt());
afterAll(() => tmp.cleanup());

async function repo(): Promise<string> {
  const proj = tmp.make('dv-noloss-');
  await dvOk(proj, ['init', '-q']);
  return proj;
}

describe('the repository lock', () => {
  it('three writers racing over an empty (stale) lock file: every acknowledged commit is in the history', async () => {
    const proj = await repo();
    writeFile(proj, 'seed/x', 'x');
    await dvOk(proj, ['add', 'seed']);
    const acknowledged: string[] = [];
    for (let round = 0; round < 12; round++) {
      fs.writeFileSync(path.join(proj, '.dv', 'lock'), ''); // what a kill between create and write leaves
      const runs = [0, 1, 2].map((i) => {
        writeFile(proj, `d${round}-${i}/f`, `${round}-${i}`);
        return spawnDv(proj, ['add', `d${round}-${i}`], { env: { DV_LOCK_WAIT_MS: '30000' } }).done;
      });
      for (const r of await Promise.all(runs)) {
        expect(r.code, r.stderr).toBe(0);
        acknowledged.push(r.stdout.trim());
      }
    }
    const history = new Set((await dvJson<{ id: string }[]>(proj, ['log', '--json'])).map((e) => e.id));
    expect(acknowledged.filter((id) => !history.has(id))).toEqual([]);
    expect(history.size).toBe(1 + 36);
  });
});

describe('symbolic links', () => {
  it('a tracked directory moved behind a link to another disk: checkout refuses and writes nothing outside; --force replaces the link itself', async () => {
    const proj = await repo();
    writeFile(proj, 'data/a.csv', 'v1\n');
    await dvOk(proj, ['add', 'data']);
    await dvOk(proj, ['tag', 'v1']);
    const elsewhere = tmp.make('dv-other-disk-');
    fs.renameSync(path.join(proj, 'data'), path.join(elsewhere, 'data'));
    fs.symlinkSync(path.join(elsewhere, 'data'), path.join(proj, 'data'));
    writeFile(elsewhere, 'data/a.csv', 'work no version has\n');
    writeFile(elsewhere, 'data/new.csv', 'more work\n');
    const outside = snapshotTree(elsewhere);

    const r = await dv(proj, ['checkout', 'v1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dv: error: (checkout would overwrite uncommitted changes in data|'data' is a symbolic link)/);
    expect(snapshotTree(elsewhere)).toEqual(outside);

    // dv import into a directory below the link, and dv add through it, are refused too.
    await dvOk(proj, ['export', 'v1', '-o', path.join(elsewhere, '..', `${path.basename(elsewhere)}.tar`)]);
    const imp = await dv(proj, ['import', path.join(elsewhere, '..', `${path.basename(elsewhere)}.tar`), 'data/sub']);
    expect(imp.stderr).toMatch(/^dv: error: 'data' is a symbolic link/);
    const addThrough = await dv(proj, ['add', 'data/new.csv']);
    expect(addThrough.stderr).toMatch(/^dv: error: 'data' is a symbolic link/);
    expect(snapshotTree(elsewhere)).toEqual(outside);

    await dvOk(proj, ['checkout', 'v1', '--force']);
    expect(snapshotTree(elsewhere)).toEqual(outside);
    expect(fs.lstatSync(path.join(proj, 'data')).isDirectory()).toBe(true);
    expect(fs.readFileSync(path.join(proj, 'data/a.csv'), 'utf8')).toBe('v1\n');
  });

  it('symlinks are recorded as links (their target text) and restored as links, never followed', async () => {
    const proj = await repo();
    writeFile(proj, 'data/a.csv', 'a\n');
    fs.symlinkSync('a.csv', path.join(proj, 'data/latest.csv'));
    fs.symlinkSync('/etc', path.join(proj, 'data/etc'));
    fs.symlinkSync('/etc/passwd', path.join(proj, 'passwd'));
    await dvOk(proj, ['add', 'data', 'passwd']);
    const ls = await dvJson<{ path: string; mode: number; size: number }[]>(proj, ['ls', 'HEAD:data', '--json']);
    expect(ls.map((e) => [e.path, e.mode])).toEqual([['data/a.csv', 0o644], ['data/etc', 0o120000], ['data/latest.csv', 0o120000]]);
    expect((await dv(proj, ['cat', 'HEAD:passwd'])).stdout).toBe('/etc/passwd');
    fs.rmSync(path.join(proj, 'data'), { recursive: true });
    fs.rmSync(path.join(proj, 'passwd'));
    await dvOk(proj, ['checkout', 'HEAD', '--force']);
    expect(fs.readlinkSync(path.join(proj, 'data/latest.csv'))).toBe('a.csv');
    expect(fs.readlinkSync(path.join(proj, 'data/etc'))).toBe('/etc');
    expect(fs.readlinkSync(path.join(proj, 'passwd'))).toBe('/etc/passwd');
    expect((await dvJson<{ added: string[]; modified: string[] }>(proj, ['status', '--json'])).modified).toEqual([]);
    // Re-pointing a link is a modification.
    fs.rmSync(path.join(proj, 'data/latest.csv'));
    fs.symlinkSync('other.csv', path.join(proj, 'data/latest.csv'));
    expect((await dvJson<{ modified: string[] }>(proj, ['status', '--json'])).modified).toEqual(['data/latest.csv']);
  });
});

describe('a checkout killed half-way', () => {
  async function twoVersions(): Promise<{ proj: string; v1: Record<string, string>; v2: Record<string, string> }> {
    const proj = await repo();
    for (let i = 0; i < 400; i++) writeFile(proj, `data/f${String(i).padStart(3, '0')}.bin`, Buffer.alloc(20_000, i % 251));
    await dvOk(proj, ['add', 'data']);
    await dvOk(proj, ['tag', 'v1']);
    const v1 = snapshotTree(path.join(proj, 'data'));
    for (let i = 0; i < 400; i++) writeFile(proj, `data/f${String(i).padStart(3, '0')}.bin`, Buffer.alloc(20_000, (i + 7) % 251));
    for (let i = 0; i < 400; i++) writeFile(proj, `data/only-v2/g${i}.bin`, Buffer.alloc(5_000, i % 13));
    await dvOk(proj, ['commit']);
    await dvOk(proj, ['tag', 'v2']);
    const v2 = snapshotTree(path.join(proj, 'data'));
    await dvOk(proj, ['checkout', 'v1']);
    return { proj, v1, v2 };
  }

  async function killMidway(proj: string): Promise<void> {
    const p = spawnDv(proj, ['checkout', 'v2']);
    const started = await waitFor(() => fs.existsSync(path.join(proj, 'data/only-v2')) || p.exited(), 30_000, 1);
    p.child.kill('SIGKILL');
    await p.done;
    expect(started).toBe(true);
  }

  it('the next command finishes it: the workspace is v2, and going back to v1 works', async () => {
    const { proj, v1, v2 } = await twoVersions();
    await killMidway(proj);
    const s = await dv(proj, ['status', '--json']);
    expect(s.code).toBe(0);
    expect(snapshotTree(path.join(proj, 'data'))).toEqual(v2);
    const st = JSON.parse(s.stdout) as { added: string[]; modified: string[]; deleted: string[] };
    expect([...st.added, ...st.modified, ...st.deleted]).toEqual([]);
    await dvOk(proj, ['checkout', 'v1']);
    expect(snapshotTree(path.join(proj, 'data'))).toEqual(v1);
  });

  it('checkout -f v1 right after the kill leaves exactly v1 (no file only v2 has)', async () => {
    const { proj, v1 } = await twoVersions();
    await killMidway(proj);
    await dvOk(proj, ['-q', 'checkout', '-f', 'v1']);
    expect(snapshotTree(path.join(proj, 'data'))).toEqual(v1);
    const st = await dvJson<{ added: string[] }>(proj, ['status', '--json']);
    expect(st.added).toEqual([]);
  });
});

describe('Ctrl-C', () => {
  it('dv add interrupted prints one line and exits 130; the re-run completes with exact data', async () => {
    const proj = await repo();
    for (let i = 0; i < 30; i++) writeFile(proj, `big/f${i}.bin`, Buffer.alloc(4 << 20, i));
    const p = spawnDv(proj, ['add', 'big']);
    await waitFor(() => fs.readdirSync(path.join(proj, '.dv', 'tmp')).length > 0 || p.exited(), 20_000, 2);
    p.child.kill('SIGINT');
    const r = await p.done;
    if (r.code === 0) return; // finished before the signal: nothing to check
    expect(r.code).toBe(130);
    expect(r.stderr).toBe('dv: interrupted (SIGINT); nothing is half-written: run the command again to resume\n');
    await dvOk(proj, ['add', 'big']);
    expect((await dvJson<{ ok: boolean }>(proj, ['fsck', '--json'])).ok).toBe(true);
    fs.rmSync(path.join(proj, 'big'), { recursive: true });
    await dvOk(proj, ['checkout', 'HEAD', '-f']);
    expect(fs.readFileSync(path.join(proj, 'big/f29.bin')).equals(Buffer.alloc(4 << 20, 29))).toBe(true);
  });
});

describe('tracked paths', () => {
  it('dv add data/raw tracks data/raw, not data; a second add with nothing changed makes no commit', async () => {
    const proj = await repo();
    writeFile(proj, 'data/raw/a.csv', 'a\n');
    writeFile(proj, 'data/README.md', 'kept in git\n');
    await dvOk(proj, ['add', 'data/raw']);
    const st = await dvJson<{ tracked: string[]; added: string[] }>(proj, ['status', '--json']);
    expect(st.tracked).toEqual(['data/raw']);
    expect(st.added).toEqual([]);
    const again = await dvJson<{ created: boolean }>(proj, ['add', 'data/raw', '--json']);
    expect(again.created).toBe(false);
    expect((await dvJson<unknown[]>(proj, ['log', '--json'])).length).toBe(1);
  });
});

describe('fetch after gc', () => {
  it('does not download again a pack a local gc deleted as garbage, unless a ref comes to need it', async () => {
    const env = suite.env;
    const a = await repo();
    const url = `s3://${suite.s3.bucket}/refetch-${path.basename(a)}`;
    await dvOk(a, ['remote', 'add', 'origin', url, '--endpoint', suite.s3.endpoint], { env });
    writeFile(a, 'data/a.bin', Buffer.alloc(100_000, 1));
    await dvOk(a, ['add', 'data']);
    await dvOk(a, ['branch', 'tmp']);
    await dvOk(a, ['checkout', 'tmp']);
    writeFile(a, 'data/b.bin', Buffer.alloc(100_000, 2));
    await dvOk(a, ['commit']);
    await dvOk(a, ['checkout', 'main']);
    await dvOk(a, ['push', 'origin', 'main'], { env }); // sends tmp's pack too: every pack the remote lacks

    const parent = tmp.make('dv-noloss-clone-');
    await dvOk(parent, ['clone', url, 'b', '--endpoint', suite.s3.endpoint], { env });
    const b = path.join(parent, 'b');
    const gc = await dvJson<{ packsDeleted: number }>(b, ['gc', '--json']);
    expect(gc.packsDeleted).toBeGreaterThanOrEqual(1);
    expect((await dvJson<{ packsFetched: number }>(b, ['fetch', '--json'], { env })).packsFetched).toBe(0);

    await dvOk(a, ['push', 'origin', 'tmp'], { env });
    expect((await dvJson<{ packsFetched: number }>(b, ['fetch', '--json'], { env })).packsFetched).toBeGreaterThanOrEqual(1);
    expect((await dv(b, ['cat', 'origin/tmp:data/b.bin'])).stdoutBytes.equals(Buffer.alloc(100_000, 2))).toBe(true);
  });
});

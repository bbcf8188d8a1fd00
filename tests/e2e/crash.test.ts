// Concurrency and crashes with real processes: a second dv waits for or refuses the
// writer lock; `kill -9` during add, commit, checkout and gc, at several moments,
// leaves a repository that `dv fsck` passes, where the previous commit checks out
// byte-identical and the next command works (the stale lock is taken over).
//
// One ~100 MB dataset (seeded, regenerated per version) is shared by the whole file:
// large enough that every command is still working when it is killed (the report at
// the end says which kills hit a running process), small enough to keep this fast.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeRun, dv, dvJson, dvOk, ensureBuilt, sleep, snapshotTree, spawnDv, TempDirs, waitFor, writeRandomFile,
  type RunResult,
} from '../helpers/cli.js';

const BIG_FILES = 4;
const BIG_BYTES = 24 << 20;
const SMALL_FILES = 32;
const SMALL_BYTES = 128 << 10;

const tmp = new TempDirs();
let proj: string;
let data: string;
let lockFile: string;
/** The first version: its id and files. */
const first = { id: '', files: {} as Record<string, string> };

/** Writes version `v` of the dataset: every file gets new content. */
function writeVersion(v: string): void {
  for (let i = 0; i < BIG_FILES; i++) writeRandomFile(proj, `data/big/f${i}.bin`, BIG_BYTES, `crash-big-${i}-${v}`);
  for (let j = 0; j < SMALL_FILES; j++) writeRandomFile(proj, `data/small/s${String(j).padStart(3, '0')}.bin`, SMALL_BYTES, `crash-small-${j}-${v}`);
}

function packCount(): number {
  const dir = path.join(proj, '.dv', 'packs');
  let n = 0;
  for (const d of fs.readdirSync(dir)) n += fs.readdirSync(path.join(dir, d)).length;
  return n;
}

/** Armed just before the command starts: true once a pack more than before exists. */
const packSealed = () => {
  const before = packCount();
  return () => packCount() > before;
};

/** Armed just before the command starts: true once a new entry matching `match` appears
 * in one of `dirs` (leftovers of earlier killed runs do not count). */
const newTempFile = (dirs: () => string[], match: (name: string) => boolean) => () => {
  const list = () => dirs().flatMap((d) => fs.readdirSync(d).filter(match).map((f) => `${d}/${f}`));
  const before = new Set(list());
  return () => list().some((f) => !before.has(f));
};

/** A pack being written (gc repacking). */
const packWriting = newTempFile(() => [path.join(proj, '.dv', 'tmp')], (f) => f.startsWith('pack-'));
/** A checkout writing a file: its temp file, in .dv/tmp or next to the target. */
const restoreInProgress = newTempFile(() => [path.join(proj, '.dv', 'tmp'), path.join(data, 'big')],
  (f) => f.startsWith('restore-') || f.includes('.dvtmp-'));

type Trigger =
  | { label: string; ms: number }
  | { label: string; afterLockMs: number }
  | { label: string; arm: () => () => boolean };

interface Killed {
  label: string;
  /** Whether the process was still running when the signal was sent. */
  running: boolean;
  result: RunResult;
  lockLeft: boolean;
}

/** Starts `dv ARGS`, sends SIGKILL at the trigger, and waits for it to die. */
async function killAt(args: string[], t: Trigger): Promise<Killed> {
  const happened = 'arm' in t ? t.arm() : null;
  const p = spawnDv(proj, args);
  if ('ms' in t) {
    await sleep(t.ms);
  } else if ('afterLockMs' in t) {
    await waitFor(() => p.exited() || fs.existsSync(lockFile), 30_000, 2);
    await sleep(t.afterLockMs);
  } else {
    const seen = await waitFor(() => p.exited() || happened!(), 30_000, 1);
    expect(seen, `${t.label}: never happened`).toBe(true);
  }
  p.child.kill('SIGKILL');
  const result = await p.done;
  // Either the signal hit it, or it had finished (successfully) just before.
  const running = result.signal === 'SIGKILL';
  if (!running) expect(result.code, describeRun(args, result)).toBe(0);
  return { label: t.label, running, result, lockLeft: fs.existsSync(lockFile) };
}

/** After a crash: fsck passes, `checkout REF --force` restores `expected` exactly. */
async function expectRecovers(ref: string, expected: Record<string, string>, what: string): Promise<void> {
  const f = await dv(proj, ['fsck']);
  expect(f.code, `${what}: ${describeRun(['fsck'], f)}`).toBe(0);
  const c = await dv(proj, ['checkout', ref, '--force']);
  expect(c.code, `${what}: ${describeRun(['checkout', ref, '--force'], c)}`).toBe(0);
  expect(fs.existsSync(lockFile), `${what}: lock released`).toBe(false);
  expect(snapshotTree(data), `${what}: ${ref} is byte-identical`).toEqual(expected);
}

async function headCommit(): Promise<string> {
  return (await dvJson<{ commit: string }>(proj, ['status', '--json'])).commit;
}

async function mainCommit(): Promise<{ id: string; parents: string[] }> {
  return (await dvJson<{ id: string; parents: string[] }[]>(proj, ['log', '-n', '1', 'main', '--json']))[0];
}

// What each kill looked like, reported at the end: a crash test that never hit a
// running process would prove nothing.
const report: string[] = [];

beforeAll(async () => {
  ensureBuilt();
  proj = tmp.make('dv-crash-');
  data = path.join(proj, 'data');
  lockFile = path.join(proj, '.dv', 'lock');
  await dvOk(proj, ['init']);
  writeVersion('v1');
  first.id = (await dvOk(proj, ['add', 'data', '-m', 'v1'])).stdout.trim();
  first.files = snapshotTree(data);
}, 120_000);

afterAll(() => {
  if (report.length) console.log(`crash test kills:\n  ${report.join('\n  ')}`);
  tmp.cleanup();
});

function record(cmd: string, k: Killed): void {
  report.push(`${cmd} @ ${k.label}: ${k.running ? 'killed while running' : 'had already finished'}${k.lockLeft ? ', stale lock left' : ''}`);
}

describe('kill -9', () => {
  const moments = (extra: Trigger[]): Trigger[] => [
    { label: '50 ms after start', ms: 50 },
    { label: '100 ms after taking the lock', afterLockMs: 100 },
    ...extra,
  ];

  for (const cmd of ['add', 'commit'] as const) {
    it(`during dv ${cmd}`, async () => {
      await dvOk(proj, ['checkout', 'main', '--force']);
      let prev = await headCommit();
      let expected = snapshotTree(data);
      let n = 0;
      const triggers = moments([
        { label: 'as the first pack is sealed', arm: packSealed },
        { label: '300 ms after taking the lock', afterLockMs: 300 },
      ]);
      const args = cmd === 'add' ? ['add', 'data', '-m', 'killed'] : ['commit', '-m', 'killed'];
      for (const t of triggers) {
        writeVersion(`${cmd}-${n++}`);
        const attempted = snapshotTree(data);
        const k = await killAt(args, t);
        record(cmd, k);
        const main = await mainCommit();
        if (main.id === prev) {
          // main still names the previous commit: it checks out byte-identical.
          await expectRecovers('main', expected, `${cmd} @ ${t.label}`);
        } else {
          // Killed after the commit point: the new commit must be complete and exact,
          // and the previous one still intact.
          expect(main.parents).toEqual([prev]);
          await expectRecovers(prev, expected, `${cmd} @ ${t.label}`);
          await expectRecovers('main', attempted, `${cmd} @ ${t.label}: the completed commit`);
          prev = main.id;
          expected = attempted;
        }
      }
      // The next run (taking over any stale lock) completes, and its commit is exact.
      writeVersion(`${cmd}-final`);
      const want = snapshotTree(data);
      const r = await dvOk(proj, cmd === 'add' ? ['add', 'data', '-m', `${cmd} final`] : ['commit', '-m', `${cmd} final`]);
      const created = r.stdout.trim();
      expect(created).toMatch(/^[0-9a-f]{64}$/);
      expect(await mainCommit()).toMatchObject({ id: created, parents: [prev] });
      await expectRecovers(prev, expected, `${cmd}: the previous commit, by id`);
      await expectRecovers('main', want, `${cmd}: the final run's commit`);
    });
  }

  it('during dv checkout', async () => {
    const head = await headCommit();
    const older = (await dvJson<{ id: string }[]>(proj, ['log', '--json']))[2].id;
    await dvOk(proj, ['checkout', older, '--force']);
    const olderFiles = snapshotTree(data);
    await dvOk(proj, ['checkout', 'main', '--force']);
    expect(await headCommit()).toBe(head);
    const headFiles = snapshotTree(data);
    const triggers = moments([
      { label: 'while a file is being rewritten', arm: restoreInProgress },
      { label: '250 ms after taking the lock', afterLockMs: 250 },
    ]);
    for (const t of triggers) {
      const k = await killAt(['checkout', older], t);
      record('checkout', k);
      await expectRecovers('main', headFiles, `checkout @ ${t.label}`);
    }
    await dvOk(proj, ['checkout', older]);
    expect(snapshotTree(data)).toEqual(olderFiles);
    await dvOk(proj, ['checkout', 'main']);
    expect(snapshotTree(data)).toEqual(headFiles);
    // And a commit after all that works and records exactly the workspace.
    writeRandomFile(proj, 'data/small/s000.bin', SMALL_BYTES, 'crash-after-checkout');
    const c = (await dvOk(proj, ['commit', '-m', 'after checkout kills'])).stdout.trim();
    expect(c).toMatch(/^[0-9a-f]{64}$/);
    expect(await dvJson(proj, ['status', '--json'])).toMatchObject({ commit: c, added: [], modified: [], deleted: [] });
    expect(await dvJson(proj, ['diff', head, c, '--json'])).toMatchObject([{ path: 'data/small/s000.bin', status: 'modified' }]);
  });

  it('during dv gc', async () => {
    // Garbage that shares packs with live data: a branch writes new versions of every big
    // file; main then adopts half of them (deduplicated into the branch's packs); the
    // branch is deleted, so gc must rewrite those packs, not only delete whole ones.
    let n = 0;
    const makeGarbage = async (): Promise<void> => {
      const tag = String(n++);
      await dvOk(proj, ['branch', `junk-${tag}`]);
      await dvOk(proj, ['checkout', `junk-${tag}`]);
      for (let i = 0; i < BIG_FILES; i++) writeRandomFile(proj, `data/big/f${i}.bin`, BIG_BYTES, `crash-gc-${i}-${tag}`);
      await dvOk(proj, ['commit', '-m', `junk ${tag}`]);
      await dvOk(proj, ['checkout', 'main', '--force']);
      for (let i = 0; i < BIG_FILES; i += 2) writeRandomFile(proj, `data/big/f${i}.bin`, BIG_BYTES, `crash-gc-${i}-${tag}`);
      await dvOk(proj, ['commit', '-m', `adopt ${tag}`]);
      await dvOk(proj, ['branch', '-D', `junk-${tag}`]);
    };
    // The reflog would keep the junk for 30 days: make its entries expire at once.
    const cfg = path.join(proj, '.dv', 'config.json');
    fs.writeFileSync(cfg, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfg, 'utf8')), reflogExpireDays: 0 }));
    const triggers = moments([
      { label: 'while a pack is being rewritten', arm: packWriting },
      { label: '250 ms after taking the lock', afterLockMs: 250 },
    ]);
    for (const t of triggers) {
      // Killed gc runs leave work behind; make fresh garbage when little is left.
      type Dry = { packsRewritten: number; bytesFreed: number };
      let dry = await dvJson<Dry>(proj, ['gc', '--dry-run', '--json']);
      if (dry.packsRewritten === 0 || dry.bytesFreed < 2 * BIG_BYTES) {
        await makeGarbage();
        dry = await dvJson<Dry>(proj, ['gc', '--dry-run', '--json']);
      }
      expect(dry.packsRewritten, 'gc has packs to rewrite').toBeGreaterThan(0);
      const headFiles = snapshotTree(data);
      const k = await killAt(['gc'], t);
      record('gc', k);
      await expectRecovers('main', headFiles, `gc @ ${t.label}`);
    }
    // A complete gc afterwards: nothing left to collect, fsck clean, history intact.
    const head = await headCommit();
    const headFiles = snapshotTree(data);
    await dvOk(proj, ['gc']);
    expect(await dvJson(proj, ['gc', '--dry-run', '--json'])).toMatchObject({ objectsDeleted: 0, orphanPacks: 0 });
    const fsck = await dv(proj, ['fsck', '--json']);
    expect(fsck.code, describeRun(['fsck', '--json'], fsck)).toBe(0);
    expect(JSON.parse(fsck.stdout)).toMatchObject({ ok: true, errors: [] });
    // fsck verified every object every ref reaches; the first version reads back exactly too.
    await expectRecovers(first.id, first.files, 'the first version after gc');
    await dvOk(proj, ['checkout', 'main', '--force']);
    expect(await headCommit()).toBe(head);
    expect(snapshotTree(data)).toEqual(headFiles);
  });

  afterAll(() => {
    // Most kills must have hit a running process, or this file tested nothing.
    const hits = report.filter((r) => r.includes('killed while running')).length;
    expect(hits).toBeGreaterThanOrEqual(Math.ceil(report.length * 0.6));
  });
});

describe('the writer lock', () => {
  it('a second writer is refused after DV_LOCK_WAIT_MS, or waits for the first; readers go on', async () => {
    // A long first writer: dv add of ~300 MB under a new path.
    const before = await headCommit();
    for (let i = 0; i < 10; i++) writeRandomFile(proj, `extra/x${i}.bin`, 30 << 20, `crash-lock-${i}`);
    const writer = spawnDv(proj, ['add', 'extra', '-m', 'long add']);
    // The lock file is created empty (O_EXCL), then filled: wait until it names its owner.
    const owner = (): unknown => { try { return JSON.parse(fs.readFileSync(lockFile, 'utf8')); } catch { return null; } };
    expect(await waitFor(() => writer.exited() || owner() !== null, 30_000, 2)).toBe(true);
    expect(writer.exited(), 'the add is still running').toBe(false);
    expect(owner()).toMatchObject({ pid: writer.child.pid, command: 'add' });

    // Refused, with a message saying who holds the lock.
    const t0 = Date.now();
    const refused = await dv(proj, ['tag', 'refused'], { env: { DV_LOCK_WAIT_MS: '300' } });
    expect(refused.code, describeRun(['tag', 'refused'], refused)).toBe(1);
    expect(refused.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(new RegExp(`^dv: error: repository is locked by pid ${writer.child.pid} \\('dv add', since [^)]+\\); try again`));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    // Readers do not take the lock: they see the last complete commit.
    const log = await dvJson<{ id: string }[]>(proj, ['log', '-n', '1', '--json']);
    expect(log[0].id).toBe(before);
    expect(writer.exited(), 'the add was still running while the second writer was refused').toBe(false);

    // Waits, then runs after the add: the tag lands on the new commit.
    const waited = await dv(proj, ['tag', 'waited', '--json'], { env: { DV_LOCK_WAIT_MS: '60000' } });
    const done = await writer.done;
    expect(done.code, describeRun(['add', 'extra'], done)).toBe(0);
    const created = done.stdout.trim();
    expect(created).toMatch(/^[0-9a-f]{64}$/);
    expect(waited.code, describeRun(['tag', 'waited'], waited)).toBe(0);
    expect(JSON.parse(waited.stdout)).toEqual({ name: 'waited', commit: created });
    expect((await dvJson<{ name: string }[]>(proj, ['tag', '--json'])).map((t) => t.name)).toEqual(['waited']);
    expect(fs.existsSync(lockFile)).toBe(false);
  });
});

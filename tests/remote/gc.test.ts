// Remote gc through the library (and once through the CLI): only packs no remote ref
// reaches go, and only once they are older than the grace period.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repo } from '../../src/repo/repo.js';
import { addRemote } from '../../src/repo/remote/config.js';
import { push } from '../../src/repo/remote/push.js';
import { remoteGc } from '../../src/repo/remote/gc.js';
import { clone } from '../../src/repo/remote/clone.js';
import { acquireLease } from '../../src/repo/remote/lease.js';
import { fsck } from '../../src/repo/fsck.js';
import { startS3Server, type S3TestServer } from '../helpers/s3server.js';
import { bucket, dvEnv, dvJson, listAll, randomData, removeTempDirs, tempDir } from './helpers.js';

let s3: S3TestServer;
const repos: Repo[] = [];

beforeAll(async () => {
  s3 = await startS3Server();
  Object.assign(process.env, s3.env, { DV_AUTHOR: 'test <test@localhost>', DV_REMOTE_SETTLE_MS: '50' });
});
afterAll(async () => {
  for (const r of repos) r.close();
  await s3?.stop();
  removeTempDirs();
});

async function newRepo(prefix: string): Promise<Repo> {
  const repo = Repo.init(tempDir());
  repos.push(repo);
  await addRemote(repo, 'origin', `s3://${s3.bucket}/${prefix}`, { endpoint: s3.endpoint });
  return repo;
}

/** One commit on `branch` (created at `from`) adding `file`; everything it stores lands in one pack. */
async function commitOn(repo: Repo, branch: string, from: string | null, file: string, data: Buffer): Promise<string> {
  if (from) repo.refs.set(`heads/${branch}`, from);
  const stored = await repo.ingestor().storeStream(Readable.from([data]));
  return repo.commitChanges(branch, new Map([[file, stored]]), `add ${file}`);
}

function packsOf(keys: Iterable<string>): string[] {
  return [...keys].filter((k) => k.startsWith('packs/')).map((k) => k.slice(9, -5)).sort();
}

describe('remote gc', () => {
  it('deletes only unreachable packs past the grace period and reports partly dead ones', async () => {
    const repo = await newRepo('gc');
    // Large enough for its chunk list to be stored as a blob of its own.
    const main = await commitOn(repo, 'main', null, 'data/a', randomData(3 << 20, 'a'));
    const packsMain = new Set(repo.db.prepare('SELECT id FROM packs').pluck().all() as string[]);
    const x = randomData(120_000, 'x');
    await commitOn(repo, 'feat', main, 'data/x', x); // pack: chunks of x, trees, commit F
    const featPack = (repo.db.prepare('SELECT id FROM packs').pluck().all() as string[]).find((p) => !packsMain.has(p))!;
    await commitOn(repo, 'other', main, 'data/x', x); // same trees as feat: its pack holds only commit O
    const before = new Set(repo.db.prepare('SELECT id FROM packs').pluck().all() as string[]);
    await commitOn(repo, 'junk', main, 'data/y', randomData(150_000, 'y'));
    const junkPack = (repo.db.prepare('SELECT id FROM packs').pluck().all() as string[]).find((p) => !before.has(p))!;
    repo.refs.setHeadBranch('main');
    await push(repo, { all: true });

    const remote = bucket(s3, 'gc');
    await remote.delete('refs/heads/feat');
    await remote.delete('refs/heads/junk');
    const all = packsOf((await listAll(remote)).keys());
    expect(all).toContain(junkPack);

    // Within the grace period nothing goes, however dead.
    const young = await remoteGc(repo, {});
    expect(young.deleted).toEqual([]);
    expect(young.young.map((p) => p.id)).toEqual([junkPack]);
    expect(young.partlyDead).toEqual([expect.objectContaining({ id: featPack, deadObjects: 1 })]);

    // A repository that never fetched works from ranged GETs alone.
    const stranger = await newRepo('gc');
    const dry = await remoteGc(stranger, { graceMs: 0, dryRun: true });
    expect(dry.deleted.map((p) => p.id)).toEqual([junkPack]);
    expect(packsOf((await listAll(remote)).keys())).toEqual(all);

    const done = await remoteGc(stranger, { graceMs: 0 });
    expect(done.deleted.map((p) => p.id)).toEqual([junkPack]);
    expect(done.bytesFreed).toBeGreaterThan(150_000);
    expect(packsOf((await listAll(remote)).keys())).toEqual(all.filter((p) => p !== junkPack));
    expect(await listAll(remote, 'locks/')).toEqual(new Map());
    remote.close();

    // Everything the remaining refs need is still there.
    const target = path.join(tempDir(), 'c');
    const c = await clone(`s3://${s3.bucket}/gc`, target, { endpoint: s3.endpoint, branch: 'other' });
    expect(c.files).toBe(2);
    expect(fs.readFileSync(path.join(target, 'data/a')).equals(randomData(3 << 20, 'a'))).toBe(true);
    const cloned = Repo.open(target);
    repos.push(cloned);
    expect((await fsck(cloned)).ok).toBe(true);
    expect(fs.readFileSync(path.join(target, 'data/x')).equals(x)).toBe(true);
  });

  it('keeps pushes from writing refs while a gc holds its lease', async () => {
    const repo = await newRepo('gc-lease');
    await commitOn(repo, 'main', null, 'data/a', randomData(1000, 'lease'));
    const remote = bucket(s3, 'gc-lease');
    const lease = await acquireLease(remote, 'locks/gc', { command: 'gc --remote' });
    await expect(push(repo)).rejects.toThrow(/a remote gc is running on s3:\/\/.*gc --remote/);
    await lease.release();
    expect((await push(repo)).refs[0].status).toBe('created');
    remote.close();
  });

  it('runs from the CLI with --grace and --json', async () => {
    const repo = await newRepo('gc-cli');
    await commitOn(repo, 'main', null, 'data/a', randomData(1000, 'cli'));
    await push(repo);
    const env = dvEnv(s3);
    const r = await dvJson(repo.root, ['gc', '--remote', 'origin', '--grace', '0s'], env);
    expect(r).toMatchObject({ remote: 'origin', graceMs: 0, deleted: [], partlyDead: [] });
    expect(r.liveObjects).toBe(r.objects);
  });
});

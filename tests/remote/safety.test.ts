// Refs never lose commits: sequential and racing pushes to one branch, the
// conditional-write path, and a push killed half-way then re-run.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3TestServer } from '../helpers/s3server.js';
import {
  bucket, dv, dvEnv, dvJson, dvOk, enforceConditionalWrites, errorLine, listAll, randomData, removeTempDirs, spawnDv,
  startProxy, tempDir, writeFile, type Env, type Proxy,
} from './helpers.js';

let s3: S3TestServer;
let env: Env;
const proxies: Proxy[] = [];

beforeAll(async () => {
  s3 = await startS3Server();
  env = dvEnv(s3);
});
afterAll(async () => {
  for (const p of proxies) await p.close();
  await s3?.stop();
  removeTempDirs();
});

async function proxy(): Promise<Proxy> {
  const p = await startProxy(s3.endpoint);
  proxies.push(p);
  return p;
}

/** A pushed repository and a clone of it: two writers on one branch. */
async function twoClones(prefix: string, endpoint = s3.endpoint): Promise<[string, string]> {
  const a = tempDir();
  await dvOk(a, ['init'], env);
  await dvOk(a, ['remote', 'add', 'origin', `s3://${s3.bucket}/${prefix}`, '--endpoint', endpoint], env);
  writeFile(path.join(a, 'data/base.txt'), 'base\n');
  await dvOk(a, ['add', 'data'], env);
  await dvOk(a, ['push'], env);
  const parent = tempDir();
  await dvOk(parent, ['clone', `s3://${s3.bucket}/${prefix}`, 'b', '--endpoint', endpoint], env);
  return [a, path.join(parent, 'b')];
}

async function commitFile(dir: string, name: string): Promise<string> {
  writeFile(path.join(dir, 'data', name), `${name}\n`);
  return (await dvOk(dir, ['commit', '-m', name], env)).trim();
}

describe('branch update safety', () => {
  it('rejects the second of two pushes to one branch as non-fast-forward', async () => {
    const [a, b] = await twoClones('seq');
    const fromA = await commitFile(a, 'a.txt');
    await commitFile(b, 'b.txt');
    await dvOk(a, ['push'], env);
    const line = errorLine(await dv(b, ['push'], env));
    expect(line).toContain('rejected (non-fast-forward)');
    expect(line).toContain('fetch first');
    // The remote still has A's commit; B's is not lost either: it is local.
    const remote = bucket(s3, 'seq');
    expect((await remote.get('refs/heads/main'))!.body.toString()).toBe(fromA);
    remote.close();
    // After fetching, pull explains the divergence; --force is the explicit way out.
    expect(errorLine(await dv(b, ['pull'], env))).toMatch(/have diverged/);
    const forced = await dvJson(b, ['push', '--force'], env);
    expect(forced.refs[0].status).toBe('forced');
  });

  it('lets exactly one of two racing pushes win (lease fallback on s3rver)', async () => {
    const [a, b] = await twoClones('race');
    await commitFile(a, 'a.txt');
    await commitFile(b, 'b.txt');
    const slow = { ...env, DV_REMOTE_SETTLE_MS: '300' };
    const results = await Promise.all([dv(a, ['push', '--json'], slow), dv(b, ['push', '--json'], slow)]);
    const ok = results.filter((r) => r.code === 0);
    const failed = results.filter((r) => r.code !== 0);
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(errorLine(failed[0])).toContain('rejected (non-fast-forward)');
    expect(JSON.parse(ok[0].stdout).refUpdates).toBe('lease');
    const remote = bucket(s3, 'race');
    const winner = results[0].code === 0 ? a : b;
    expect((await remote.get('refs/heads/main'))!.body.toString()).toBe((await dvJson(winner, ['log'], env))[0].id);
    expect([...(await listAll(remote, 'locks/')).keys()]).toEqual([]); // leases are released
    remote.close();
  });

  it('uses If-Match / If-None-Match where the server enforces them', async () => {
    const p = await proxy();
    enforceConditionalWrites(p, s3.endpoint);
    const [a, b] = await twoClones('cas', p.endpoint);
    await commitFile(a, 'a.txt');
    await commitFile(b, 'b.txt');
    p.seen.length = 0;
    const r = await dvJson(a, ['push'], env);
    expect(r.refUpdates).toBe('conditional-write');
    expect(p.seen.some((x) => x.method === 'PUT' && x.url.includes('/locks/'))).toBe(false); // no lease needed
    expect(errorLine(await dv(b, ['push'], env))).toContain('rejected (non-fast-forward)');

    // The race the pre-check cannot see: the ref moves between B's read and B's write.
    const parent = tempDir();
    await dvOk(parent, ['clone', `s3://${s3.bucket}/cas`, 'c', '--endpoint', p.endpoint], env);
    const c = path.join(parent, 'c');
    await commitFile(c, 'c.txt');
    const moved = await commitFile(a, 'a2.txt');
    const enforce = p.decide;
    let sneaked = false;
    p.decide = async (req, body) => {
      if (!sneaked && req.method === 'PUT' && req.url!.includes('/refs/heads/main')) {
        sneaked = true;
        await dvOk(a, ['push'], env); // A lands first
      }
      return enforce(req, body);
    };
    expect(errorLine(await dv(c, ['push'], env))).toMatch(/rejected \(non-fast-forward\).*changed while this push was running/);
    const remote = bucket(s3, 'cas');
    expect((await remote.get('refs/heads/main'))!.body.toString()).toBe(moved);
    remote.close();
  });

  it('resumes a killed push without re-sending the packs that arrived', async () => {
    const p = await proxy();
    const dir = tempDir();
    await dvOk(dir, ['init'], env);
    await dvOk(dir, ['remote', 'add', 'origin', `s3://${s3.bucket}/killed`, '--endpoint', p.endpoint], env);
    writeFile(path.join(dir, 'data/big.bin'), randomData(44 << 20, 'killed')); // two packs
    writeFile(path.join(dir, 'data/small.txt'), 'small\n');
    await dvOk(dir, ['add', 'data', '-q'], env);

    // Let the first pack through, hold the second, then SIGKILL the pusher.
    let packPuts = 0;
    let heldResolve!: () => void;
    const held = new Promise<void>((r) => { heldResolve = r; });
    p.decide = (req) => {
      if (req.method === 'PUT' && req.url!.includes('/packs/') && ++packPuts === 2) { heldResolve(); return 'hold'; }
      return 'forward';
    };
    const child = spawnDv(dir, ['push', '--jobs', '1'], env);
    await held;
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));

    const remote = bucket(s3, 'killed');
    const arrived = [...(await listAll(remote, 'packs/')).keys()];
    expect(arrived).toHaveLength(1);
    expect(await remote.get('refs/heads/main')).toBeNull(); // nothing points at a half-pushed state
    // Another clone sees an empty remote, not a broken one.
    const empty = await dvJson(tempDir(), ['clone', `s3://${s3.bucket}/killed`, 'x', '--endpoint', s3.endpoint], env);
    expect(empty.branch).toBeNull();

    p.decide = () => 'forward';
    p.seen.length = 0;
    const r = await dvJson(dir, ['push'], env);
    expect(r.packsSkipped).toBe(1);
    const resent = p.seen.filter((x) => x.method === 'PUT' && arrived.some((k) => x.url.endsWith(k)));
    expect(resent).toEqual([]);
    expect(await remote.get('refs/heads/main')).not.toBeNull();
    remote.close();

    const parent = tempDir();
    await dvOk(parent, ['clone', `s3://${s3.bucket}/killed`, 'c', '--endpoint', s3.endpoint, '-q'], env);
    await dvOk(path.join(parent, 'c'), ['fsck'], env);
  });
});

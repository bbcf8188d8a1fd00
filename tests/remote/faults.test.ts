// Bad input and faults: one clear error line, and the local repository unchanged
// and consistent (refs, workspace, fsck, no temp files left).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3TestServer } from '../helpers/s3server.js';
import {
  bucket, dv, dvEnv, dvJson, dvOk, errorLine, listAll, randomData, removeTempDirs, startProxy, tempDir, writeFile, type Env, type Proxy,
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

async function repoWithData(remoteUrl: string, endpoint: string, e: Env = env): Promise<string> {
  const dir = tempDir();
  await dvOk(dir, ['init'], e);
  await dvOk(dir, ['remote', 'add', 'origin', remoteUrl, '--endpoint', endpoint], e);
  writeFile(path.join(dir, 'data/a.bin'), randomData(200_000, remoteUrl));
  await dvOk(dir, ['add', 'data'], e);
  return dir;
}

/** What must not change when a command fails. */
async function snapshot(dir: string): Promise<unknown> {
  const fsck = await dvJson(dir, ['fsck'], env);
  expect(fsck.ok).toBe(true);
  expect(fsck.warnings).toEqual([]);
  return { branches: await dvJson(dir, ['branch'], env), status: await dvJson(dir, ['status', '--remote'], env),
    files: fs.readdirSync(path.join(dir, 'data')).sort() };
}

/** `a` pushed twice; `b` cloned after the first push. Returns the key of the second push's pack. */
async function behindClone(prefix: string): Promise<{ a: string; b: string; pack: string }> {
  const a = await repoWithData(`s3://${s3.bucket}/${prefix}`, s3.endpoint);
  await dvOk(a, ['push'], env);
  const parent = tempDir();
  await dvOk(parent, ['clone', `s3://${s3.bucket}/${prefix}`, 'b', '--endpoint', s3.endpoint], env);
  const remote = bucket(s3, prefix);
  const before = new Set((await listAll(remote, 'packs/')).keys());
  writeFile(path.join(a, 'data/new.bin'), randomData(300_000, `${prefix}-new`));
  await dvOk(a, ['commit', '-m', 'new'], env);
  await dvOk(a, ['push'], env);
  const pack = [...(await listAll(remote, 'packs/')).keys()].find((k) => !before.has(k))!;
  remote.close();
  return { a, b: path.join(parent, 'b'), pack };
}

describe('corrupt remote data', () => {
  for (const damage of ['flipped byte', 'truncated'] as const) {
    it(`detects a ${damage} pack on fetch and pull, changes nothing, and recovers once it is repaired`, async () => {
      const { b, pack } = await behindClone(`corrupt-${damage.replace(' ', '-')}`);
      const remote = bucket(s3, `corrupt-${damage.replace(' ', '-')}`);
      const good = (await remote.get(pack))!.body;
      const bad = Buffer.from(good);
      if (damage === 'flipped byte') bad[bad.length >> 1] ^= 0xff;
      await remote.put(pack, damage === 'truncated' ? bad.subarray(0, bad.length - 1000) : bad);
      const before = await snapshot(b);

      expect(errorLine(await dv(b, ['fetch'], env))).toMatch(/remote pack [0-9a-f]{64} at .* is corrupt or truncated/);
      expect(errorLine(await dv(b, ['pull'], env))).toMatch(/corrupt or truncated/);
      expect(await snapshot(b)).toEqual(before);
      expect(fs.readdirSync(path.join(b, '.dv/tmp'))).toEqual([]);

      await remote.put(pack, good);
      remote.close();
      expect((await dvJson(b, ['pull'], env)).status).toBe('fast-forward');
      expect(fs.existsSync(path.join(b, 'data/new.bin'))).toBe(true);
    });
  }
});

describe('packs that vanish between listing and download', () => {
  it('skips a pack no ref needs, and refuses refs whose objects are gone', async () => {
    const { a, b, pack } = await behindClone('vanish');
    // An unreferenced pack on the remote: a local branch committed, then deleted; the
    // next push carries its pack along (push sends every local pack the remote lacks).
    const localPacks = () => new Set(fs.readdirSync(path.join(a, '.dv/packs'), { recursive: true }).map(String).filter((f) => f.endsWith('.pack')));
    await dvOk(a, ['branch', 'tmp'], env);
    await dvOk(a, ['checkout', 'tmp'], env);
    const packsBefore = localPacks();
    writeFile(path.join(a, 'data/tmp.bin'), randomData(50_000, 'tmp'));
    await dvOk(a, ['commit', '-m', 'tmp'], env);
    const tmpPack = [...localPacks()].filter((f) => !packsBefore.has(f)).map((f) => path.basename(f))[0];
    await dvOk(a, ['checkout', 'main'], env);
    await dvOk(a, ['branch', '-D', 'tmp'], env);
    writeFile(path.join(a, 'data/more.txt'), 'more\n');
    await dvOk(a, ['commit', '-m', 'more'], env);
    await dvOk(a, ['push'], env);
    const remote = bucket(s3, 'vanish');
    expect([...(await listAll(remote, 'packs/')).keys()].some((k) => k.endsWith(tmpPack))).toBe(true);
    remote.close();

    const p = await startProxy(s3.endpoint);
    proxies.push(p);
    const cfg = JSON.parse(fs.readFileSync(path.join(b, '.dv/config.json'), 'utf8'));
    cfg.remotes.origin.endpoint = p.endpoint;
    fs.writeFileSync(path.join(b, '.dv/config.json'), JSON.stringify(cfg));
    const gone = (...keys: string[]) => (req: { method?: string; url?: string }) =>
      (req.method === 'GET' || req.method === 'HEAD') && keys.some((k) => req.url!.split('?')[0].endsWith(k))
        ? { status: 404, code: 'NoSuchKey' } : 'forward' as const;

    // The needed pack is gone: one error, nothing updated.
    p.decide = gone(pack, tmpPack);
    const before = await snapshot(b);
    expect(errorLine(await dv(b, ['fetch'], env))).toMatch(/lacks \d+ object\(s\) its refs need.*nothing was updated/);
    expect(await snapshot(b)).toEqual(before);

    // A pack nobody needs is gone (as after a remote gc): fetch carries on without it.
    p.decide = gone(tmpPack);
    const r = await dvJson(b, ['pull'], env);
    expect(r.status).toBe('fast-forward');
    expect(fs.readFileSync(path.join(b, 'data/more.txt'), 'utf8')).toBe('more\n');
    expect(fs.existsSync(path.join(b, '.dv/packs', tmpPack.slice(0, 2), tmpPack))).toBe(false);
  });
});

describe('unreachable or wrong remotes', () => {
  it('reports a wrong endpoint', async () => {
    const dir = await repoWithData(`s3://${s3.bucket}/x`, 'http://127.0.0.1:9');
    const before = await snapshot(dir);
    expect(errorLine(await dv(dir, ['push'], env))).toMatch(/cannot reach S3 endpoint http:\/\/127\.0\.0\.1:9: ECONNREFUSED/);
    expect(errorLine(await dv(dir, ['fetch'], env))).toMatch(/cannot reach S3 endpoint/);
    expect(await snapshot(dir)).toEqual(before);
    const r = await dv(tempDir(), ['clone', `s3://${s3.bucket}/x`, 'c', '--endpoint', 'http://127.0.0.1:9'], env);
    expect(errorLine(r)).toMatch(/cannot reach S3 endpoint/);
  });

  it('reports a missing bucket, and clone leaves no directory behind', async () => {
    const dir = await repoWithData('s3://no-such-bucket/p', s3.endpoint);
    expect(errorLine(await dv(dir, ['push'], env))).toMatch(/bucket 'no-such-bucket' does not exist/);
    const parent = tempDir();
    expect(errorLine(await dv(parent, ['clone', 's3://no-such-bucket/p', 'c', '--endpoint', s3.endpoint], env)))
      .toMatch(/bucket 'no-such-bucket' does not exist/);
    expect(fs.existsSync(path.join(parent, 'c'))).toBe(false);
  });

  it('reports rejected credentials', async () => {
    const dir = await repoWithData(`s3://${s3.bucket}/creds`, s3.endpoint);
    const wrong = { ...env, AWS_ACCESS_KEY_ID: 'NOT-A-KEY' };
    expect(errorLine(await dv(dir, ['push'], wrong))).toMatch(/S3 rejected the credentials .*InvalidAccessKeyId/);
  });

  it('refuses to clone a location nobody pushed to', async () => {
    const parent = tempDir();
    expect(errorLine(await dv(parent, ['clone', `s3://${s3.bucket}/empty`, 'c', '--endpoint', s3.endpoint], env)))
      .toMatch(/is not a dv remote yet/);
    expect(fs.existsSync(path.join(parent, 'c'))).toBe(false);
  });

  it('refuses to push to a remote made with other chunker parameters', async () => {
    const a = await repoWithData(`s3://${s3.bucket}/chunk`, s3.endpoint);
    await dvOk(a, ['push'], env);
    const dir = tempDir();
    await dvOk(dir, ['init', '--chunk-min', '8KiB', '--chunk-avg', '32KiB', '--chunk-max', '128KiB'], env);
    await dvOk(dir, ['remote', 'add', 'origin', `s3://${s3.bucket}/chunk`, '--endpoint', s3.endpoint], env);
    writeFile(path.join(dir, 'data/x'), 'x');
    await dvOk(dir, ['add', 'data'], env);
    s3.requests.reset();
    expect(errorLine(await dv(dir, ['push'], env))).toMatch(/chunks with fastcdc-2020 16384\/65536\/262144 but this repository uses fastcdc-2020 8192\/32768\/131072/);
    expect(s3.requests.count('PUT')).toBe(0);
  });
});

describe('the server dying mid-transfer', () => {
  async function proxy(): Promise<Proxy> {
    const p = await startProxy(s3.endpoint);
    proxies.push(p);
    return p;
  }

  it('push: one error, no ref on the remote; the re-run completes', async () => {
    const p = await proxy();
    const dir = await repoWithData(`s3://${s3.bucket}/dying-push`, p.endpoint);
    p.decide = (req) => (req.method === 'PUT' && req.url!.includes('/packs/') ? 'reset' : 'forward');
    expect(errorLine(await dv(dir, ['push'], env))).toMatch(/cannot reach S3 endpoint .*ECONNRESET/);
    const remote = bucket(s3, 'dying-push');
    expect(await remote.get('refs/heads/main')).toBeNull();
    p.decide = () => 'forward';
    await dvOk(dir, ['push'], env);
    expect(await remote.get('refs/heads/main')).not.toBeNull();
    remote.close();
  });

  it('fetch: a body cut off mid-stream is retried, and a persistent failure changes nothing', async () => {
    const { b, pack } = await behindClone('dying-fetch');
    const p = await proxy();
    const cfg = JSON.parse(fs.readFileSync(path.join(b, '.dv/config.json'), 'utf8'));
    cfg.remotes.origin.endpoint = p.endpoint;
    fs.writeFileSync(path.join(b, '.dv/config.json'), JSON.stringify(cfg));
    const before = await snapshot(b);

    p.decide = (req) => (req.method === 'GET' && req.url!.includes(pack) ? 'cut-response' : 'forward');
    expect(errorLine(await dv(b, ['pull'], env))).toMatch(/download of pack [0-9a-f]{12} from .* failed after 4 attempts/);
    expect(await snapshot(b)).toEqual(before);
    expect(fs.readdirSync(path.join(b, '.dv/tmp'))).toEqual([]);

    let cuts = 0;
    p.decide = (req) => (req.method === 'GET' && req.url!.includes(pack) && cuts++ === 0 ? 'cut-response' : 'forward');
    expect((await dvJson(b, ['pull'], env)).status).toBe('fast-forward');
    expect(cuts).toBe(2);
  });
});

// Integrity across a remote: a damaged local pack is never uploaded; dv fetch --repair
// (and dv fsck --repair --remote) brings back what is damaged locally; a ref lease left
// by a killed push on this host is taken over at once, and a waiting push says whom
// it waits for.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bucket, dv, dvJson, dvOk, errorLine, initWithRemote, listAll, randomData, tempDir, useS3Server, writeFile } from './helpers.js';

const suite = useS3Server();

function packFiles(dir: string): string[] {
  const root = path.join(dir, '.dv', 'packs');
  return fs.readdirSync(root).flatMap((d) => fs.readdirSync(path.join(root, d)).map((f) => path.join(root, d, f))).sort();
}

function flip(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, offset);
  b[0] ^= 0x5a;
  fs.writeSync(fd, b, 0, 1, offset);
  fs.closeSync(fd);
}

async function project(prefix: string): Promise<string> {
  const { s3, env } = suite;
  const a = await initWithRemote(s3, env, prefix);
  writeFile(path.join(a, 'data/big.bin'), randomData(600_000, `${prefix}-big`));
  writeFile(path.join(a, 'data/small.txt'), 'small\n');
  await dvOk(a, ['add', 'data', '-m', 'v1'], env);
  return a;
}

describe('push never uploads a damaged pack', () => {
  it('refuses when the magic of a pack is flipped, uploads nothing; pushes once repaired', async () => {
    const { s3, env } = suite;
    const a = await project('magic');
    const [pack] = packFiles(a);
    flip(pack, 0);
    const line = errorLine(await dv(a, ['push'], env));
    expect(line).toMatch(/local pack [0-9a-f]{64} is damaged .*bad magic.*nothing was pushed/);
    expect([...(await listAll(bucket(s3, 'magic'))).keys()].filter((k) => k.startsWith('packs/') || k.startsWith('refs/'))).toEqual([]);
    const f = await dv(a, ['fsck', '--json'], env);
    expect(f.code).toBe(1);
    expect(Object.keys(JSON.parse(f.stdout).problems)).toEqual(['pack']);

    // Every object still verifies: repair rewrites the pack byte for byte as it was written.
    await dvOk(a, ['fsck', '--repair'], env);
    expect(packFiles(a).map((p) => path.basename(p))).toEqual([path.basename(pack)]);
    await dvOk(a, ['push'], env);
    const parent = tempDir();
    await dvOk(parent, ['clone', `s3://${s3.bucket}/magic`, 'b', '--endpoint', s3.endpoint], env);
    expect(fs.readFileSync(path.join(parent, 'b/data/big.bin')).equals(randomData(600_000, 'magic-big'))).toBe(true);
  });
});

describe('dv fetch --repair', () => {
  it('brings back from the remote every object damaged or missing here', async () => {
    const { s3, env } = suite;
    const a = await project('repair');
    await dvOk(a, ['push'], env);
    const parent = tempDir();
    await dvOk(parent, ['clone', `s3://${s3.bucket}/repair`, 'b', '--endpoint', s3.endpoint], env);
    const b = path.join(parent, 'b');
    fs.rmSync(path.join(b, 'data'), { recursive: true }); // no workspace copy to restore from
    const [pack] = packFiles(b);
    flip(pack, Math.floor(fs.statSync(pack).size / 3));

    // Local repair alone: the damaged object is lost, and the versions and files are named.
    const local = await dv(b, ['fsck', '--repair', '--json'], env);
    expect(local.code).toBe(1);
    const r = JSON.parse(local.stdout);
    expect(r.setAside).toHaveLength(1);
    expect(fs.existsSync(r.setAside[0].file)).toBe(true);
    expect(r.lostFiles.map((f: { path: string }) => f.path)).toEqual(['data/big.bin']);
    expect(r.lostVersions).toHaveLength(1);
    expect(errorLine(await dv(b, ['cat', 'HEAD:data/big.bin'], env))).toMatch(/not in the store|missing/);

    const fixed = await dvJson(b, ['fetch', '--repair'], env);
    expect(fixed.fetched.packs).toBe(1);
    expect(fixed.lostFiles).toEqual([]);
    expect(fixed.fsck.ok).toBe(true);
    await dvOk(b, ['checkout', 'main', '--force'], env);
    expect(fs.readFileSync(path.join(b, 'data/big.bin')).equals(randomData(600_000, 'repair-big'))).toBe(true);
    expect((await dvJson(b, ['fsck'], env)).ok).toBe(true);
  });
});

/** The pid of a process that has exited (so it cannot be holding anything). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('ref leases of killed pushes', () => {
  /** A pushed project with one more commit, and a foreign lease on its branch; pushes. */
  async function pushPastLease(prefix: string, pid: number, host: string, ms: number) {
    const { s3, env } = suite;
    const a = await project(prefix);
    await dvOk(a, ['push'], env);
    writeFile(path.join(a, 'data/more.txt'), 'more\n');
    await dvOk(a, ['commit', '-m', 'v2'], env);
    await bucket(s3, prefix).put('locks/refs/heads/main', Buffer.from(JSON.stringify({
      owner: 'someone-else', host, pid, command: 'push heads/main', expires: new Date(Date.now() + ms).toISOString(),
    })));
    const r = await dv(a, ['push', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).refs[0].status).toBe('updated');
    return r;
  }

  it('takes over at once a lease whose holder on this host is gone, and says so', async () => {
    const r = await pushPastLease('takeover', deadPid(), os.hostname(), 60_000);
    expect(r.stderr).toMatch(/taking over .*locks\/refs\/heads\/main: its holder 'dv push heads\/main' \(pid \d+ on .*\) is no longer running/);
    expect([...(await listAll(bucket(suite.s3, 'takeover'), 'locks/')).keys()]).toEqual([]);
  });

  it('waits for a live holder, saying whom it waits for, and goes on once the lease expires', async () => {
    // This test process is alive: its lease must be respected until it expires.
    const r = await pushPastLease('wait', process.pid, os.hostname(), 5000);
    expect(r.stderr).toMatch(/waiting for .*locks\/refs\/heads\/main, held by 'dv push heads\/main' \(pid \d+ on .*lease expires .*\): until it is released or expires/);
    expect(r.stderr).not.toMatch(/taking over/);
  });

  it('never takes over a lease of another host, however its pid looks', async () => {
    const r = await pushPastLease('otherhost', deadPid(), `not-${os.hostname()}`, 5000);
    expect(r.stderr).toMatch(/waiting for/);
    expect(r.stderr).not.toMatch(/taking over/);
  });
});

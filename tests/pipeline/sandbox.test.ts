// The sandbox executor with real bubblewrap (.ci/run installs it), driven through the
// CLI as a user would: dv run, then dv runs show. An undeclared read fails naming the
// file, also between the datums of one batch container; a timeout kills through the
// runner; writes outside the outs fail; the network (a loopback server this test
// runs) is out of reach unless the stage says network: true, even for a stage with
// S3 access, which reaches its job endpoint with boto3; memory and process limit
// breaches (cgroups, as root here and in CI) are named in dv runs show; an identity
// from the repository config (dv identity) runs the command as its own uid; dv run
// --isolation sandboxes a plain pipeline; a config mistake is one line naming the key.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TempDirs, dv, dvOk, writeFile } from '../helpers/cli.js';

const tmp = new TempDirs();
let server: http.Server;
let port = 0;

beforeAll(async () => {
  server = http.createServer((_req, res) => res.end('reached'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  tmp.cleanup();
});

async function project(yaml: string): Promise<string> {
  const root = tmp.make('dv-sandbox-');
  fs.chmodSync(root, 0o755); // an identity's user reads the declared files
  await dvOk(root, ['init']);
  writeFile(root, 'in/a.txt', 'hello\n');
  writeFile(root, 'secret.txt', 'not declared\n');
  writeFile(root, 'dv.yaml', yaml);
  await dvOk(root, ['add', 'in', 'secret.txt']);
  return root;
}

/** What dv runs show says about the newest run. */
async function lastRunLog(root: string): Promise<string> {
  const runs = JSON.parse((await dvOk(root, ['runs', '--json'])).stdout) as { id: string }[];
  return (await dvOk(root, ['runs', 'show', runs[0]!.id])).stdout;
}

describe('isolation: sandbox', () => {
  it('gives a command its declared deps and outs only: an undeclared read fails naming the file', async () => {
    const root = await project(`stages:
  copy:
    cmd: cat in/a.txt > out/copy.txt
    deps: [in/a.txt]
    outs: [out/]
    isolation: sandbox
  each:
    foreach: in/*.txt
    cmd: ls in > \${out}; cat in/b.txt >> \${out} 2>&1; true
    outs: [seen/]
    isolation: sandbox
  slow:
    cmd: sleep 30; touch late.txt
    outs: [late.txt]
    timeout: 1
    isolation: sandbox
  peek:
    cmd: cat secret.txt > peek.txt
    deps: [in/a.txt]
    outs: [peek.txt]
    isolation: sandbox
`);
    await dvOk(root, ['run', 'copy']);
    expect(fs.readFileSync(path.join(root, 'out/copy.txt'), 'utf8')).toBe('hello\n');
    // The datums of a foreach share one container, yet each sees its own input only.
    writeFile(root, 'in/b.txt', 'bee\n');
    await dvOk(root, ['run', 'each']);
    expect(fs.readFileSync(path.join(root, 'seen/a.txt'), 'utf8')).toBe('a.txt\ncat: in/b.txt: No such file or directory\n');
    expect(fs.readFileSync(path.join(root, 'seen/b.txt'), 'utf8')).toBe('b.txt\nbee\n');
    // A timeout kills the command inside its container (through the runner), reported as today.
    expect((await dv(root, ['run', 'slow'])).code).toBe(1);
    expect(await lastRunLog(root)).toContain('timed out after 1s');
    const r = await dv(root, ['run', 'peek']);
    expect(r.code).toBe(1);
    const shown = await lastRunLog(root);
    expect(shown).toContain('secret.txt: No such file or directory');
    expect(fs.existsSync(path.join(root, 'peek.txt'))).toBe(false);
    // The same command as a plain local stage reads it: the sandbox made the difference.
    fs.writeFileSync(path.join(root, 'dv.yaml'), fs.readFileSync(path.join(root, 'dv.yaml'), 'utf8').replace(/isolation: sandbox\n$/, 'isolation: local\n'));
    await dvOk(root, ['run', 'peek']);
    expect(fs.readFileSync(path.join(root, 'peek.txt'), 'utf8')).toBe('not declared\n');
  });

  it('refuses writes outside the outs, to deps too, and keeps /tmp private', async () => {
    const root = await project(`stages:
  stray:
    cmd: echo x > /tmp/scratch && cat /tmp/scratch > out.txt && echo y > elsewhere.txt
    deps: [in/a.txt]
    outs: [out.txt]
    isolation: sandbox
  clobber:
    cmd: echo gone > in/a.txt; echo ok > out2.txt
    deps: [in/a.txt]
    outs: [out2.txt]
    isolation: sandbox
`);
    const r = await dv(root, ['run', 'stray']);
    expect(r.code).toBe(1);
    expect(await lastRunLog(root)).toMatch(/elsewhere\.txt: Read-only file system/);
    expect(fs.existsSync(path.join(root, 'elsewhere.txt'))).toBe(false);
    expect(fs.existsSync('/tmp/scratch') && fs.readFileSync('/tmp/scratch', 'utf8') === 'x\n').toBe(false);
    await dvOk(root, ['run', 'clobber']);
    expect(fs.readFileSync(path.join(root, 'in/a.txt'), 'utf8')).toBe('hello\n');
    expect(fs.readFileSync(path.join(root, 'out2.txt'), 'utf8')).toBe('ok\n');
  });

  it('has no network unless the stage says network: true; with S3 access it reaches its job endpoint only, batched or not', async () => {
    const fetchCmd = `python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:${port}/', timeout=5).read().decode())" > got.txt`;
    const root = await project(`stages:
  reader:
    cmd: python3 probe.py
    deps: [probe.py]
    outs: [net.txt]
    isolation: sandbox
    s3: true
  offline:
    cmd: ${fetchCmd}
    outs: [got.txt]
    isolation: sandbox
`);
    // boto3 as an unmodified client: DV_ENDPOINT and the AWS_* variables, nothing else.
    // Its container has a network namespace of its own: a socket bridged to dv's endpoint.
    writeFile(root, 'probe.py', `import os, boto3, urllib.request
s3 = boto3.client('s3', endpoint_url=os.environ['DV_ENDPOINT'])
got = s3.get_object(Bucket=os.environ['DV_BUCKET'], Key=os.environ['DV_BASE_COMMIT'] + '/in/a.txt')['Body'].read().decode()
try:
    urllib.request.urlopen('http://127.0.0.1:${port}/', timeout=5)
    other = 'reached'
except Exception:
    other = 'unreachable'
open('net.txt', 'w').write(os.environ['DV_ENDPOINT'].split(':')[1] + ' ' + got.strip() + ' ' + other + '\\n')
`);
    const r = await dv(root, ['run', 'reader']);
    expect(r.code, await lastRunLog(root)).toBe(0);
    expect(fs.readFileSync(path.join(root, 'net.txt'), 'utf8')).toBe('//127.0.0.1 hello unreachable\n');
    // The same with one bwrap per datum (the fallback without root or the addon): the
    // runner in front of the command bridges the endpoint there too.
    fs.rmSync(path.join(root, 'net.txt'));
    const alone = await dv(root, ['run', 'reader', '--force'], { env: { DV_SANDBOX_BATCH: '0' } });
    expect(alone.code, await lastRunLog(root)).toBe(0);
    expect(fs.readFileSync(path.join(root, 'net.txt'), 'utf8')).toBe('//127.0.0.1 hello unreachable\n');
    expect((await dv(root, ['run', 'offline'])).code).toBe(1);
    expect(await lastRunLog(root)).toMatch(/Connection refused|URLError|unreachable/);
    fs.writeFileSync(path.join(root, 'dv.yaml'), fs.readFileSync(path.join(root, 'dv.yaml'), 'utf8') + '    network: true\n');
    await dvOk(root, ['run', 'offline']);
    expect(fs.readFileSync(path.join(root, 'got.txt'), 'utf8')).toBe('reached');
  });

  it('reports memory and process limit breaches as such in dv runs show (cgroups), and removes the cgroups', async () => {
    // As root on these machines (and in CI) the limits are cgroups made under dv's own one.
    const root = await project(`stages:
  hog:
    cmd: python3 -c "b = b'x' * (512 * 1024 * 1024)" && echo done > hog.txt
    outs: [hog.txt]
    isolation: sandbox
    resources: { memory: 128M, pids: 64, cpus: 1, timeout: 60 }
  forks:
    cmd: for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait; echo done > forks.txt
    outs: [forks.txt]
    isolation: sandbox
    resources: { pids: 4 }
`);
    const r = await dv(root, ['run', 'hog']);
    expect(r.code).toBe(1);
    const hog = await lastRunLog(root);
    expect(hog).toMatch(/memory limit exceeded \(resources\.memory 134217728 bytes, cgroup\)/);
    expect(hog).toContain('Killed'); // the kernel's OOM killer, not a MemoryError: the limit is real memory
    expect((await dv(root, ['run', 'forks'])).code).toBe(1);
    const shown = await lastRunLog(root);
    expect(shown).toMatch(/process limit reached \(resources\.pids 4, cgroup\)/);
    expect(shown).toMatch(/fork/i);
    expect(fs.existsSync(path.join(root, 'forks.txt'))).toBe(false);
    const own = fs.readFileSync('/proc/self/cgroup', 'utf8');
    for (const c of ['memory', 'pids']) {
      const line = own.split('\n').find((l) => l.split(':')[1]?.split(',').includes(c));
      const dir = line ? path.join('/sys/fs/cgroup', c, line.split(':')[2]!) : null;
      if (dir && fs.existsSync(dir)) expect(fs.readdirSync(dir).filter((n) => n.startsWith(`dv-`))).toEqual([]);
    }
  });

  it('runs an identity declared in the repository config as its own uid/gid, and dv run --isolation sandboxes a plain stage', async () => {
    const yaml = `stages:
  who:
    cmd: echo "$(id -u):$(id -g)" > who.txt
    outs: [who.txt]
    isolation: sandbox
    identity: batch
  plain:
    cmd: cat secret.txt > plain.txt
    outs: [plain.txt]
`;
    const root = await project(yaml);
    expect((await dv(root, ['run', 'who'])).stderr.trim()).toBe("dv: error: dv.yaml: stages.who.identity: unknown identity 'batch' (declare it under identities: or with dv identity add)");
    // Declared with dv identity (in .dv/config.json): same checks as dv.yaml's, bad input changes nothing.
    expect((await dv(root, ['identity', 'add', 'batch', '--uid', 'x'])).stderr.trim()).toBe('dv: error: .dv/config.json: identities.batch.uid: expected a user id (or give user: NAME)');
    expect((await dv(root, ['identity', 'add', 'batch', '--user', 'no-such-user-here'])).stderr).toContain("no local user 'no-such-user-here'");
    expect(JSON.parse((await dvOk(root, ['identity', '--json'])).stdout)).toEqual([]);
    await dvOk(root, ['identity', 'add', 'batch', '--uid', '4242', '--gid', '4343']);
    expect(JSON.parse((await dvOk(root, ['identity', 'list', '--json'])).stdout)).toEqual([{ name: 'batch', uid: 4242, gid: 4343, write: null }]);
    const r = await dv(root, ['run', 'who']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(root, 'who.txt'), 'utf8')).toBe('4242:4343\n');
    // Declared in both places: an error naming both, not one silently winning.
    writeFile(root, 'dv.yaml', `identities:\n  batch: { uid: 0 }\n${yaml}`);
    expect((await dv(root, ['run', 'who'])).stderr.trim()).toBe('dv: error: dv.yaml: identities.batch: also declared in .dv/config.json (dv identity): declare an identity in one place');
    writeFile(root, 'dv.yaml', yaml);
    const run = await dv(root, ['run', 'plain', '--isolation', 'sandbox']);
    expect(run.code).toBe(1);
    expect(await lastRunLog(root)).toContain('secret.txt: No such file or directory');
    expect((await dv(root, ['run', 'plain', '--isolation', 'chroot'])).code).toBe(2);
    // An experiment runs in a copy of the workspace: the identity still comes from the repository's config.
    const exp = await dv(root, ['exp', 'run', '-n', 'as-batch', '--json']);
    expect(exp.code, exp.stderr).toBe(0);
    expect(JSON.parse(exp.stdout)[0]).toMatchObject({ name: 'as-batch', status: 'succeeded' });
    await dvOk(root, ['identity', 'remove', 'batch']);
    expect((await dv(root, ['run', 'who'])).stderr).toContain("unknown identity 'batch'");
    // The other new keys are checked like the rest of dv.yaml: one line naming the place.
    writeFile(root, 'dv.yaml', 'stages:\n  s:\n    cmd: echo\n    resources: { memory: lots }\n    isolation: sandbox\n');
    expect((await dv(root, ['run'])).stderr).toContain('stages.s.resources.memory: expected a size such as 512M or 2G');
    writeFile(root, 'dv.yaml', 'stages:\n  s:\n    cmd: echo\n    resources: { memory: 1G }\n');
    expect((await dv(root, ['run'])).stderr).toContain('need isolation: sandbox');
  });
});

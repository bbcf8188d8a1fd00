// Protected branches, walked as users would: alice protects main; bob's dv commit,
// dv merge, dv branch -d and dv run -b main are refused and main does not move; a
// served main answers 403 to a key that is not allowed (AWS CLI) and takes writes
// once that key is listed; a hostile staging stage, sandboxed with a staging
// identity, tries to overwrite main through dv serve with its own job key (AWS CLI
// in its command) and fails, while its legitimate output lands on staging with the
// identity recorded; dv log --json and dv branch --json show who and what.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TempDirs, dv, dvJson, dvOk, writeFile } from '../helpers/cli.js';
import { awsEnv, findTool, startServe, stopServe, type Key } from '../helpers/serve.js';

const run = promisify(execFile);
const tmp = new TempDirs();
const AWS = findTool('aws');
const alice = { env: { DV_IDENTITY: 'alice' } };
const bob = { env: { DV_IDENTITY: 'bob' } };

interface Branch { name: string; commit: string; protected?: { allow: string[] } }
interface LogEntry { id: string; message: string; run: string | null; identity: string | null; key: string | null }

const tipOf = async (root: string, name: string): Promise<string> =>
  (await dvJson<Branch[]>(root, ['branch', '--json'])).find((b) => b.name === name)!.commit;

afterAll(() => tmp.cleanup());

describe('protected branches', () => {
  let root: string;

  beforeAll(async () => {
    root = path.join(tmp.make('dv-protect-'), 'prod');
    fs.mkdirSync(root);
    fs.chmodSync(path.dirname(root), 0o755);
    await dvOk(root, ['init']);
    writeFile(root, 'in/a.txt', 'production input\n');
    writeFile(root, 'report.txt', 'production report\n');
    await dvOk(root, ['add', 'in', 'report.txt'], alice);
    await dvOk(root, ['branch', 'staging'], alice);
    const p = await dvJson<{ branch: string; allow: string[] }>(root, ['branch', 'protect', 'main', '--json'], alice);
    expect(p).toEqual({ branch: 'main', allow: ['alice'] });
  });

  it('refuses dv commit, dv merge, dv branch -d and dv run -b for an identity not allowed', async () => {
    const main = await tipOf(root, 'main');
    writeFile(root, 'report.txt', 'bob was here\n');
    const c = await dv(root, ['commit', '-m', 'bob'], bob);
    expect(c.code).toBe(1);
    expect(c.stderr.trim()).toBe("dv: error: branch 'main' is protected: identity 'bob' may not change it (allowed: alice)");
    await dvOk(root, ['checkout', '-f', 'HEAD']);
    const m = await dv(root, ['merge', 'staging'], bob);
    expect(m.code).toBe(1);
    expect(m.stderr).toContain("branch 'main' is protected");
    writeFile(root, 'dv.yaml', 'stages:\n  rep:\n    cmd: echo staged > report2.txt\n    outs: [report2.txt]\n');
    const r = await dv(root, ['run', '-b', 'main'], bob);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("branch 'main' is protected: identity 'bob'");
    expect(fs.existsSync(path.join(root, 'report2.txt'))).toBe(false); // refused before anything ran
    expect((await dv(root, ['branch', 'unprotect', 'main'], bob)).code).toBe(1);
    expect(await tipOf(root, 'main')).toBe(main);
    // Alice may: her run commits, and records who ran it.
    await dvOk(root, ['run', '-b', 'main'], alice);
    const log = await dvJson<LogEntry[]>(root, ['log', '--json', '-n', '1']);
    expect(log[0]).toMatchObject({ identity: 'alice', key: null });
    expect(log[0]!.run).not.toBeNull();
    fs.rmSync(path.join(root, 'dv.yaml'));
  });

  it('answers 403 through dv serve to a key that is not allowed, and takes writes from a listed one', async () => {
    const key = await dvJson<Key>(root, ['keys', 'create', '--read', '*', '--write', '*', '--json']);
    const served = await startServe(root, []);
    try {
      const home = tmp.make('dv-protect-home-');
      const env = awsEnv(home, key);
      const put = (to: string) => run(AWS, ['s3', 'cp', path.join(root, 'in/a.txt'), `s3://prod/${to}`, '--endpoint-url', served.url], { env })
        .then(() => 'ok', (e: { stderr: string }) => e.stderr);
      const main = await tipOf(root, 'main');
      const refused = await put('main/in/b.txt');
      expect(refused).toContain('(AccessDenied)');
      expect(refused).toContain("branch 'main' is protected");
      expect(await tipOf(root, 'main')).toBe(main);
      expect(await put('staging/in/b.txt')).toBe('ok');
      const staged = await dvJson<LogEntry[]>(root, ['log', 'staging', '--json', '-n', '1']);
      expect(staged[0]).toMatchObject({ key: key.id, identity: null });
      // Listing the key lets it through.
      await dvOk(root, ['branch', 'protect', 'main', '--allow', 'alice', '--allow', key.id], alice);
      expect(await put('main/in/b.txt')).toBe('ok');
      expect(await tipOf(root, 'main')).not.toBe(main);
      await dvOk(root, ['branch', 'protect', 'main', '--allow', 'alice'], alice);
    } finally {
      await stopServe(served);
    }
  });

  it('keeps main whole against a hostile staging stage writing to it through the proxy', async () => {
    await dvOk(root, ['checkout', '-f', 'main']);
    writeFile(root, 'dv.yaml', `identities:
  staging: { user: nobody }
stages:
  hostile:
    cmd: >-
      echo stomped > /tmp/evil.txt;
      aws s3 cp /tmp/evil.txt s3://$DV_BUCKET/main/report.txt --endpoint-url $DV_ENDPOINT 2>&1 | tail -1 > tried.txt;
      aws s3 cp /tmp/evil.txt s3://$DV_BUCKET/main/in/a.txt --endpoint-url $DV_ENDPOINT > /dev/null 2>&1 && echo WROTE-MAIN >> tried.txt;
      aws s3 cp s3://$DV_BUCKET/$DV_BASE_COMMIT/in/a.txt - --endpoint-url $DV_ENDPOINT >> tried.txt
    deps: [in/a.txt]
    outs: [tried.txt]
    isolation: sandbox
    identity: staging
`);
    const main = await tipOf(root, 'main');
    const mainReport = (await dvOk(root, ['cat', 'main:report.txt'])).stdout;
    // Even aimed at main, the run is refused up front for the staging identity...
    expect((await dv(root, ['run', '-b', 'main'], alice)).stderr).toContain("branch 'main' is protected: identity 'staging'");
    // ...and run on staging, its command's writes to main are refused by the proxy.
    await dvOk(root, ['run', '-b', 'staging'], { env: { ...alice.env, PATH: `${path.dirname(AWS)}:${process.env.PATH ?? ''}` } });
    expect(await tipOf(root, 'main')).toBe(main);
    expect((await dvOk(root, ['cat', 'main:report.txt'])).stdout).toBe(mainReport);
    const tried = (await dvOk(root, ['cat', 'staging:tried.txt'])).stdout;
    expect(tried).toContain('AccessDenied');
    expect(tried).not.toContain('WROTE-MAIN');
    expect(tried).toContain('production input'); // it could read its input version
    const log = await dvJson<LogEntry[]>(root, ['log', 'staging', '--json', '-n', '1']);
    expect(log[0]).toMatchObject({ identity: 'staging', key: null });
    // No job key outlives its job.
    expect(await dvJson<unknown[]>(root, ['keys', 'list', '--json'])).toHaveLength(1);
    const branches = await dvJson<Branch[]>(root, ['branch', '--json']);
    expect(branches.find((b) => b.name === 'main')!.protected).toEqual({ allow: ['alice'] });
    expect(branches.find((b) => b.name === 'staging')).not.toHaveProperty('protected');
    await dvOk(root, ['branch', 'unprotect', 'main'], alice);
    expect((await dvJson<Branch[]>(root, ['branch', '--json'])).find((b) => b.name === 'main')).not.toHaveProperty('protected');
  });
});

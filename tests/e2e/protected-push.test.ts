// Protected branches across a remote, walked as a team would: alice protects main and
// pushes; bob's clone adopts the protection; when bob lifts it locally anyway (local
// identities are not authentication) and commits to main, his dv push is refused by
// the remote's list before anything is sent, and a fresh clone still sees alice's
// main; bob's own branch pushes fine, and alice's next push to main goes through.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dv, dvJson, dvOk, writeFile } from '../helpers/cli.js';
import { tempDir, useS3Server } from '../remote/helpers.js';

const suite = useS3Server();

interface Branch { name: string; commit: string; protected?: { allow: string[] } }

describe('protected branches on a remote', () => {
  it('dv push moves a branch the remote protects only for an identity it allows; clones adopt the protection', async () => {
    const alice = { ...suite.env, DV_IDENTITY: 'alice' };
    const bobEnv = { ...suite.env, DV_IDENTITY: 'bob' };
    const a = tempDir();
    const url = `s3://${suite.s3.bucket}/protected-${path.basename(a)}`;
    await dvOk(a, ['init'], { env: alice });
    writeFile(a, 'data/report.csv', 'id,v\n1,prod\n');
    await dvOk(a, ['add', 'data'], { env: alice });
    await dvOk(a, ['branch', 'protect', 'main'], { env: alice });
    await dvOk(a, ['remote', 'add', 'origin', url, '--endpoint', suite.s3.endpoint], { env: alice });
    await dvOk(a, ['push'], { env: alice });
    const prodMain = (await dvJson<Branch[]>(a, ['branch', '--json'])).find((b) => b.name === 'main')!.commit;

    const parent = tempDir();
    await dvOk(parent, ['clone', url, 'b', '--endpoint', suite.s3.endpoint], { env: bobEnv });
    const b = path.join(parent, 'b');
    const mainInClone = (await dvJson<Branch[]>(b, ['branch', '--json'])).find((x) => x.name === 'main')!;
    expect(mainInClone.protected).toEqual({ allow: ['alice'] });
    writeFile(b, 'data/report.csv', 'id,v\n1,bob\n');
    expect((await dv(b, ['commit', '-m', 'bob'], { env: bobEnv })).stderr).toContain("branch 'main' is protected: identity 'bob'");

    // Bob lifts it locally by claiming to be alice, commits as bob, and pushes.
    await dvOk(b, ['branch', 'unprotect', 'main'], { env: alice });
    await dvOk(b, ['commit', '-m', 'bob'], { env: bobEnv });
    const pushed = await dv(b, ['push'], { env: bobEnv });
    expect(pushed.code).toBe(1);
    expect(pushed.stderr.trim()).toBe("dv: error: push to 'origin' rejected: branch 'main' is protected: identity 'bob' may not change it (allowed: alice)");

    // The remote's main is alice's: a fresh clone reads her bytes.
    const check = tempDir();
    await dvOk(check, ['clone', url, 'c', '--endpoint', suite.s3.endpoint], { env: suite.env });
    expect(fs.readFileSync(path.join(check, 'c', 'data', 'report.csv'), 'utf8')).toBe('id,v\n1,prod\n');
    expect((await dvJson<Branch[]>(path.join(check, 'c'), ['branch', '--json'])).find((x) => x.name === 'main')!.commit).toBe(prodMain);

    // Bob's own branch is not protected: it pushes.
    await dvOk(b, ['branch', 'bob-work'], { env: bobEnv });
    await dvOk(b, ['push', 'origin', 'bob-work'], { env: bobEnv });

    // Alice's next change to main goes through.
    writeFile(a, 'data/report.csv', 'id,v\n1,prod\n2,prod\n');
    await dvOk(a, ['commit', '-m', 'drop 2'], { env: alice });
    await dvOk(a, ['push'], { env: alice });
  }, 120_000);
});

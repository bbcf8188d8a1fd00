// Temporary job keys against a real `dv serve` child, driven by boto3 (the Debian
// package .ci/run installs): a key minted for one job reads the version its inputs
// come from and nothing else, writes only its branch, and is refused with a forged
// or missing session token, after it expired (a replayed expired token) and after it
// was revoked; the presigned form carries the token too. The commit a job key makes
// records the key and its identity (dv log --json).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repo } from '../../src/repo/repo.js';
import { jobCredentialEnv, mintJobKey, revokeJobKey, type JobCredentials } from '../../src/repo/job-keys.js';
import { TempDirs, dvJson, dvOk, sleep, writeFile } from '../helpers/cli.js';
import { findTool, startServe, stopServe, type Served } from '../helpers/serve.js';

const run = promisify(execFile);
const tmp = new TempDirs();
const PYTHON = findTool('python3');

/** Each operation's outcome: 'ok:<body>' or the S3 error code boto3 got. */
const SCRIPT = `
import json, os, sys, boto3, botocore, botocore.config, urllib.request, urllib.error
ops = json.loads(sys.argv[1])
# Older botocore (Debian's) ignores AWS_ENDPOINT_URL; DV_ENDPOINT says the same.
s3 = boto3.client('s3', endpoint_url=os.environ['DV_ENDPOINT'], config=botocore.config.Config(signature_version='s3v4'))
out = []
for op in ops:
    try:
        if op[0] == 'get':
            out.append('ok:' + s3.get_object(Bucket=op[1], Key=op[2])['Body'].read().decode())
        elif op[0] == 'put':
            s3.put_object(Bucket=op[1], Key=op[2], Body=op[3].encode())
            out.append('ok:')
        elif op[0] == 'presign':
            url = s3.generate_presigned_url('get_object', Params={'Bucket': op[1], 'Key': op[2]}, ExpiresIn=60)
            try:
                out.append('ok:' + urllib.request.urlopen(url).read().decode() + ('|token-in-url' if 'X-Amz-Security-Token' in url else ''))
            except urllib.error.HTTPError as e:
                out.append(str(e.code))
    except botocore.exceptions.ClientError as e:
        out.append(e.response['Error']['Code'])
print(json.dumps(out))
`;

async function s3ops(creds: JobCredentials, endpoint: string, ops: unknown[][], override: Record<string, string> = {}): Promise<string[]> {
  const home = tmp.make('dv-jobkeys-home-');
  const env = {
    PATH: process.env.PATH ?? '', HOME: home, AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(home, 'config'), AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'credentials'),
    ...jobCredentialEnv(creds, endpoint), ...override,
  };
  const r = await run(PYTHON, ['-c', SCRIPT, JSON.stringify(ops)], { env });
  return JSON.parse(r.stdout) as string[];
}

afterAll(() => tmp.cleanup());

describe('job keys through dv serve', () => {
  let root: string;
  let bucket: string;
  let base: string;
  let served: Served;

  beforeAll(async () => {
    root = path.join(tmp.make('dv-jobkeys-'), 'proj');
    fs.mkdirSync(root);
    await dvOk(root, ['init']);
    writeFile(root, 'in/a.txt', 'input v1\n');
    await dvOk(root, ['add', 'in']);
    base = (await dvJson<{ id: string }[]>(root, ['log', '--json']))[0]!.id;
    await dvOk(root, ['branch', 'out']);
    await dvOk(root, ['branch', 'other']);
    writeFile(root, 'in/a.txt', 'input v2 on main\n');
    await dvOk(root, ['commit', '-m', 'v2']);
    served = await startServe(root, []);
    bucket = 'proj';
  });
  afterAll(async () => {
    if (served) await stopServe(served);
  });

  const mint = async (ttlSeconds: number, writePaths?: string[]): Promise<JobCredentials> => {
    const repo = Repo.open(root);
    try {
      return await mintJobKey(repo, { read: [base], write: ['out'], ttlSeconds, identity: 'staging', runId: 'r1', writePaths });
    } finally {
      repo.close();
    }
  };

  it('reads its input version, writes its branch, and nothing else', async () => {
    const creds = await mint(600);
    expect(creds.accessKeyId).toMatch(/^DV[A-Z2-7]{18}$/);
    expect(Date.parse(creds.expiration) - Date.now()).toBeGreaterThan(590_000);
    const got = await s3ops(creds, served.url, [
      ['get', bucket, `${base}/in/a.txt`],
      ['get', bucket, 'main/in/a.txt'],
      ['get', bucket, 'other/in/a.txt'],
      ['put', bucket, 'main/in/a.txt', 'stomped'],
      ['put', bucket, 'out/result.txt', 'from the job'],
      ['presign', bucket, `${base}/in/a.txt`],
    ]);
    expect(got).toEqual(['ok:input v1\n', 'AccessDenied', 'AccessDenied', 'AccessDenied', 'ok:', 'ok:input v1\n|token-in-url']);
    const log = await dvJson<{ message: string; identity: string | null; key: string | null }[]>(root, ['log', 'out', '--json']);
    expect(log[0]).toMatchObject({ identity: 'staging', key: creds.accessKeyId });
    expect((await dvOk(root, ['cat', 'main:in/a.txt'])).stdout).toBe('input v2 on main\n');
    // A key limited to one batch's area (as data: s3 mints them) writes there only.
    const batch = await mint(600, ['out/b1/']);
    expect(await s3ops(batch, served.url, [
      ['put', bucket, 'out/b1/0.json', '{}'], ['put', bucket, 'out/b2/0.json', '{}'], ['put', bucket, 'out/b1', 'x'], ['put', bucket, 'out/result.txt', 'x'],
    ])).toEqual(['ok:', 'AccessDenied', 'AccessDenied', 'AccessDenied']);
  });

  it('refuses a forged or missing session token, an expired key and a revoked one', async () => {
    const read = [['get', bucket, `${base}/in/a.txt`]];
    const creds = await mint(600);
    const other = await mint(600);
    expect(await s3ops(other, served.url, read)).toEqual(['ok:input v1\n']);
    const repo = Repo.open(root);
    try {
      await revokeJobKey(repo, other.accessKeyId);
    } finally {
      repo.close();
    }
    expect(await s3ops(other, served.url, read)).toEqual(['InvalidAccessKeyId']);

    // A short-lived key next: the token checks run while it ages, instead of a sleep
    // (no key is minted or revoked meanwhile, which would prune it once expired).
    const short = await mint(8);
    expect(await s3ops(short, served.url, read)).toEqual(['ok:input v1\n']);
    const forged = `${creds.sessionToken.slice(0, -4)}AAAA`;
    expect(await s3ops(creds, served.url, read, { AWS_SESSION_TOKEN: forged })).toEqual(['InvalidToken']);
    expect(await s3ops({ ...creds, sessionToken: '' }, served.url, read, { AWS_SESSION_TOKEN: '' })).toEqual(['MissingSecurityHeader']);
    // Another job's token does not go with this key.
    expect(await s3ops(creds, served.url, read, { AWS_SESSION_TOKEN: other.sessionToken })).toEqual(['InvalidToken']);
    await sleep(Math.max(0, Date.parse(short.expiration) - Date.now()) + 300);
    expect(await s3ops(short, served.url, [...read, ['put', bucket, 'out/late.txt', 'late']])).toEqual(['ExpiredToken', 'ExpiredToken']);
  });
});

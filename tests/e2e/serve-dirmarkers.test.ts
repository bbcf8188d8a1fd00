// Directory markers through `dv serve`, with the real AWS CLI and rclone: a zero-byte
// key ending in `/` (what `rclone mkdir`, Hadoop s3a and the AWS console write) is an
// empty directory in the version's tree. It lists back as that key (a CommonPrefix
// from its parent under delimiter `/`), reads as 0 bytes, survives checkout, status
// and commit in a workspace, and DELETE removes it.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TempDirs, dvJson, dvOk, writeFile } from '../helpers/cli.js';
import { awsEnv, servedProject, findTool, rcloneEnv, stopServe, type Key, type Served } from '../helpers/serve.js';

const run = promisify(execFile);
const tmp = new TempDirs();
const AWS = findTool('aws');
const RCLONE = findTool('rclone');

let proj: string;
let key: Key;
let s: Served;
let home: string;

const aws = async (...args: string[]): Promise<string> =>
  (await run(AWS, ['--endpoint-url', s.url, ...args], { env: awsEnv(home, key) })).stdout;
const api = async (...args: string[]): Promise<Record<string, unknown>> => {
  const out = await aws('s3api', ...args, '--bucket', 'weather', '--output', 'json');
  return out.trim() ? JSON.parse(out) as Record<string, unknown> : {};
};
const keysOf = (r: Record<string, unknown>): string[] => ((r.Contents ?? []) as { Key: string }[]).map((c) => c.Key);
const prefixesOf = (r: Record<string, unknown>): string[] => ((r.CommonPrefixes ?? []) as { Prefix: string }[]).map((c) => c.Prefix);

beforeAll(async () => {
  ({ proj, key, s, home } = await servedProject(tmp, 'dv-markers-', 'staging'));
});

afterAll(async () => {
  if (s) await stopServe(s);
  tmp.cleanup();
});

describe('directory markers', () => {
  it('aws s3api put-object dir/: listed (v1, v2, delimiter), 0 bytes on HEAD/GET, kept by checkout/status/commit, removed by DELETE', async () => {
    await api('put-object', '--key', 'staging/data/empty/');
    await api('put-object', '--key', 'staging/data/deep/er/');

    const v2 = await api('list-objects-v2', '--prefix', 'staging/data/');
    expect(keysOf(v2)).toEqual(['staging/data/a.csv', 'staging/data/deep/er/', 'staging/data/empty/']);
    const v1 = await api('list-objects', '--prefix', 'staging/data/');
    expect(keysOf(v1)).toEqual(keysOf(v2));
    const delim = await api('list-objects-v2', '--prefix', 'staging/data/', '--delimiter', '/');
    expect(keysOf(delim)).toEqual(['staging/data/a.csv']);
    expect(prefixesOf(delim)).toEqual(['staging/data/deep/', 'staging/data/empty/']);
    const own = await api('list-objects-v2', '--prefix', 'staging/data/empty/', '--delimiter', '/');
    expect((own.Contents as { Key: string; Size: number }[]).map((c) => [c.Key, c.Size])).toEqual([['staging/data/empty/', 0]]);

    expect((await api('head-object', '--key', 'staging/data/empty/')).ContentLength).toBe(0);
    const out = path.join(home, 'marker.out');
    await api('get-object', '--key', 'staging/data/empty/', out);
    expect(fs.statSync(out).size).toBe(0);
    // (Keys with empty segments, and an object `dir/` with content: serve-keys.test.ts.)

    // A marker for a directory that has files is redundant: 200, and no commit.
    const before = (await dvJson<unknown[]>(proj, ['log', 'staging', '--json'])).length;
    await api('put-object', '--key', 'staging/data/');
    expect((await dvJson<unknown[]>(proj, ['log', 'staging', '--json'])).length).toBe(before);
    expect(keysOf(await api('list-objects-v2', '--prefix', 'staging/data/'))).toEqual(keysOf(v2));

    // The workspace: checkout creates the empty directories, status is clean, commit keeps them.
    await dvOk(proj, ['checkout', 'staging']);
    expect(fs.readdirSync(path.join(proj, 'data/empty'))).toEqual([]);
    expect(fs.readdirSync(path.join(proj, 'data/deep/er'))).toEqual([]);
    const st = await dvJson<Record<string, unknown[]>>(proj, ['status', '--json']);
    expect([st.added, st.modified, st.deleted].flat()).toEqual([]);
    writeFile(proj, 'data/b.csv', 'b\n');
    await dvOk(proj, ['commit', '-m', 'b']);
    expect(keysOf(await api('list-objects-v2', '--prefix', 'staging/data/'))).toEqual(
      ['staging/data/a.csv', 'staging/data/b.csv', 'staging/data/deep/er/', 'staging/data/empty/']);

    // `dv add` of one file rebuilds the version from its file list: the empty directories
    // beside it are kept.
    writeFile(proj, 'data/b.csv', 'b2\n');
    await dvOk(proj, ['add', 'data/b.csv']);
    expect(keysOf(await api('list-objects-v2', '--prefix', 'staging/data/'))).toEqual(
      ['staging/data/a.csv', 'staging/data/b.csv', 'staging/data/deep/er/', 'staging/data/empty/']);

    await api('delete-object', '--key', 'staging/data/empty/');
    expect(keysOf(await api('list-objects-v2', '--prefix', 'staging/data/'))).toEqual(
      ['staging/data/a.csv', 'staging/data/b.csv', 'staging/data/deep/er/']);
    await expect(api('head-object', '--key', 'staging/data/empty/')).rejects.toThrow(/404|Not Found/);
  }, 180_000); // some twenty aws CLI runs: slow on a loaded machine

  it('rclone sees a marker as a directory; its mkdir succeeds (Debian rclone 1.60 writes no marker objects)', async () => {
    const env = rcloneEnv(home, key, s.url);
    const rclone = async (...args: string[]) => (await run(RCLONE, ['--low-level-retries', '1', '--retries', '1', ...args], { env })).stdout;
    await rclone('mkdir', 'dv:weather/staging/rc/made');
    await api('put-object', '--key', 'staging/rc/marked/');
    expect((await rclone('lsf', 'dv:weather/staging/rc')).trim().split('\n')).toEqual(['marked/']);
    expect((await rclone('lsf', '-R', 'dv:weather/staging/rc/marked')).trim()).toBe('');
  });
});

// Group commit, counted: `aws s3 sync` of 1,000 x 10 KiB files (the AWS CLI's default 10
// requests in flight) to a branch of `dv serve` makes at most 100 commits, and every
// file reads back exactly. The bound holds by construction (group-commit.ts: a batch
// joins the branch's open group commit until it holds 100 writes), so this counts
// commits and asserts no timing. Then a CLI commit on the same branch closes the group:
// the next PUT makes a new commit on top of it rather than folding into the old group.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TempDirs, dvJson, dvOk, writeFile, writeRandomFile } from '../helpers/cli.js';
import { awsEnv, servedProject, findTool, stopServe, type Key, type Served } from '../helpers/serve.js';

const run = promisify(execFile);
const tmp = new TempDirs();
const AWS = findTool('aws');
const FILES = 1000;

let proj: string;
let key: Key;
let s: Served;
let home: string;

const log = (branch: string) => dvJson<{ id: string; parents: string[]; message: string }[]>(proj, ['log', branch, '--json']);

beforeAll(async () => {
  ({ proj, key, s, home } = await servedProject(tmp, 'dv-gc-', 'sync', 'x\n'));
  for (let i = 0; i < FILES; i++) writeRandomFile(path.join(home, 'up'), `d${i % 10}/f${i}.bin`, 10 * 1024, `g${i}`);
});

afterAll(async () => {
  if (s) await stopServe(s);
  tmp.cleanup();
});

describe('aws s3 sync of 1,000 small files', () => {
  it('makes at most 100 commits, and every file reads back exactly', async () => {
    const env = awsEnv(home, key);
    const aws = (...args: string[]) => run(AWS, ['--endpoint-url', s.url, ...args], { env, maxBuffer: 64 << 20 });
    const before = (await log('sync')).length;
    await aws('s3', 'sync', path.join(home, 'up'), 's3://weather/sync/up/', '--only-show-errors');
    const made = (await log('sync')).length - before;
    console.log(`aws s3 sync of ${FILES} x 10 KiB files: ${made} commits`);
    expect(made).toBeGreaterThan(0);
    expect(made).toBeLessThanOrEqual(100);
    // Every PUT was answered after its commit: the whole tree is there, byte for byte.
    await aws('s3', 'sync', 's3://weather/sync/up/', path.join(home, 'down'), '--only-show-errors');
    for (let i = 0; i < FILES; i++) {
      const rel = `d${i % 10}/f${i}.bin`;
      expect(fs.readFileSync(path.join(home, 'down', rel)).equals(fs.readFileSync(path.join(home, 'up', rel))), rel).toBe(true);
    }
  }, 600_000);

  it('a commit by someone else closes the group: the next PUT commits on top of it', async () => {
    const env = awsEnv(home, key);
    const aws = (...args: string[]) => run(AWS, ['--endpoint-url', s.url, ...args], { env });
    // Another writer moves the branch (a second serve client would do the same; the CLI is simplest).
    await dvOk(proj, ['checkout', 'sync']);
    writeFile(proj, 'data/b.csv', 'y\n');
    await dvOk(proj, ['add', 'data', '-m', 'by hand']);
    const mine = (await log('sync'))[0]!;
    expect(mine.message).toBe('by hand');
    writeFile(home, 'one.txt', 'one\n');
    await aws('s3', 'cp', path.join(home, 'one.txt'), 's3://weather/sync/one.txt');
    const [top, next] = await log('sync');
    expect(next!.id).toBe(mine.id);
    expect(top!.parents).toEqual([mine.id]);
  }, 120_000);
});

// Ref resolution: HEAD, HEAD~N, HEAD^, branches, tags, full ids, unique prefixes,
// and the errors for unknown, ambiguous and out-of-range refs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repo } from '../../src/repo/repo.js';
import { add, commit } from '../../src/repo/snapshot.js';
import { createBranch, createTag } from '../../src/repo/history.js';
import { encodeCommit } from '../../src/repo/objects.js';
import type { Commit } from '../../src/repo/types.js';
import { DvError } from '../../src/store/errors.js';
import { blake3Hex } from '../../src/store/hash.js';
import { writeFile } from '../helpers/cli.js';
import { RepoFixtures } from '../helpers/repo.js';

const fx = new RepoFixtures();
let root: string;
let repo: Repo;
let c1: string, c2: string, c3: string;

beforeAll(async () => {
  ({ root, repo } = await fx.create());
  writeFile(root, 'data/a.csv', '1\n');
  c1 = (await add(repo, ['data'], { message: 'one' })).commit!;
  writeFile(root, 'data/a.csv', '2\n');
  c2 = (await commit(repo, { message: 'two' })).commit!;
  writeFile(root, 'data/a.csv', '3\n');
  c3 = (await commit(repo, { message: 'three' })).commit!;
  await createBranch(repo, 'dev', c2);
  await createTag(repo, 'v1', c1);
});
afterAll(() => fx.closeAll());

async function errorOf(p: Promise<unknown>): Promise<DvError> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(DvError);
  return e as DvError;
}

describe('resolve', () => {
  it('HEAD, ~N and ^ walk first parents', async () => {
    expect(await repo.resolve('HEAD')).toBe(c3);
    expect(await repo.resolve('@')).toBe(c3);
    expect(await repo.resolve('HEAD~0')).toBe(c3);
    expect(await repo.resolve('HEAD~1')).toBe(c2);
    expect(await repo.resolve('HEAD~')).toBe(c2);
    expect(await repo.resolve('HEAD^')).toBe(c2);
    expect(await repo.resolve('HEAD~2')).toBe(c1);
    expect(await repo.resolve('HEAD^^')).toBe(c1);
    expect(await repo.resolve('HEAD~1^')).toBe(c1);
    expect(await repo.resolve('main~2')).toBe(c1);
    expect(await repo.resolve('dev~1')).toBe(c1);
    expect((await errorOf(repo.resolve('HEAD~3'))).message).toMatch(/past the first commit/);
    expect((await errorOf(repo.resolve('v1^'))).message).toMatch(/past the first commit/);
  });

  it('branches, tags, full ids and unique prefixes', async () => {
    expect(await repo.resolve('main')).toBe(c3);
    expect(await repo.resolve('dev')).toBe(c2);
    expect(await repo.resolve('v1')).toBe(c1);
    expect(await repo.resolve('heads/dev')).toBe(c2);
    expect(await repo.resolve('tags/v1')).toBe(c1);
    for (const c of [c1, c2, c3]) {
      expect(await repo.resolve(c)).toBe(c);
      expect(await repo.resolve(c.slice(0, 12))).toBe(c);
      expect(await repo.resolve(`${c.slice(0, 10)}~0`)).toBe(c);
    }
    expect(await repo.resolve(`${c3.slice(0, 12)}~2`)).toBe(c1);
  });

  it('unknown refs are one clear error', async () => {
    expect((await errorOf(repo.resolve('nope'))).message).toBe("unknown ref 'nope'");
    expect((await errorOf(repo.resolve('nope~1'))).message).toMatch(/unknown ref 'nope~1'/);
    // A hex string that is no commit's prefix.
    const absent = ['0000', '1111', '2222', '3333', '4444', '5555'].map((p) => `${p}ffffeeee`)
      .find((p) => ![c1, c2, c3].some((c) => c.startsWith(p)))!;
    expect((await errorOf(repo.resolve(absent))).message).toMatch(/unknown ref/);
    // Prefixes shorter than 4 characters are not ids.
    expect((await errorOf(repo.resolve(c1.slice(0, 3)))).message).toMatch(/unknown ref/);
    // Ids of other objects (trees, chunks) are not commits.
    const tree = (await repo.readCommit(c1)).tree;
    expect((await errorOf(repo.resolve(tree))).message).toMatch(/unknown ref/);
    const e = await errorOf(repo.resolve(''));
    expect(e.exitCode).toBe(2);
  });

  it('an ambiguous prefix is an error naming the ambiguity; a longer prefix resolves', async () => {
    // Find two commit objects whose ids share a 4-hex-digit prefix (a birthday search over
    // messages), then store both: only those two, plus the real ones, are commits.
    const base = await repo.readCommit(c1);
    const existing = [c1, c2, c3];
    const seen = new Map<string, { id: string; commit: Commit }>();
    let pair: [{ id: string; commit: Commit }, { id: string; commit: Commit }] | null = null;
    for (let i = 0; !pair; i++) {
      const c: Commit = { ...base, parents: [c1], message: `probe ${i}` };
      const id = blake3Hex(encodeCommit(c));
      const p = id.slice(0, 4);
      if (existing.some((x) => x.startsWith(p))) continue;
      const other = seen.get(p);
      if (other) pair = [other, { id, commit: c }];
      else seen.set(p, { id, commit: c });
    }
    await repo.withLock('test', async () => {
      for (const { id, commit: c } of pair!) expect(await repo.objects.writeCommit(c)).toBe(id);
      repo.blobs.flush();
    });
    const [a, b] = pair!;
    const prefix = a.id.slice(0, 4);
    const err = await errorOf(repo.resolve(prefix));
    expect(err.message).toMatch(new RegExp(`ref '${prefix}' is ambiguous`));
    let n = 5;
    while (a.id.slice(0, n) === b.id.slice(0, n)) n++;
    expect(await repo.resolve(a.id.slice(0, n))).toBe(a.id);
    expect(await repo.resolve(b.id.slice(0, n))).toBe(b.id);
    expect(await repo.resolve(`${a.id.slice(0, n)}~1`)).toBe(c1);
  });

  it('an empty repository has no HEAD commit', async () => {
    const { repo: empty } = await fx.create();
    expect(empty.head()).toEqual({ branch: 'main', commit: null });
    expect((await errorOf(empty.resolve('HEAD'))).message).toMatch(/no commits yet/);
    expect(empty.refs.list()).toEqual([]);
  });
});

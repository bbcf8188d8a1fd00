// The commit format's audit fields (identity, key): written only when set, so a
// commit without them has the bytes (and id) it always had, and a commit stored
// before they existed reads with both null in dv log --json; one made with an actor
// round-trips them.
import { afterAll, describe, expect, it } from 'vitest';
import { encodeCommit } from '../../src/repo/objects.js';
import { Repo } from '../../src/repo/repo.js';
import type { Commit } from '../../src/repo/types.js';
import { blake3Hex } from '../../src/store/hash.js';
import { TempDirs, dvJson } from '../helpers/cli.js';

const tmp = new TempDirs();
afterAll(() => tmp.cleanup());

const plain: Commit = {
  tree: 'a'.repeat(64), parents: [], paths: ['data'], message: 'm', author: 'x <x@y>', time: '2026-11-22T04:12:00.000Z', git: null, run: null,
};

describe('commit audit fields', () => {
  it('leave a commit without them byte for byte as before', () => {
    const bytes = encodeCommit(plain).toString('utf8');
    expect(bytes).toBe('{"tree":"' + 'a'.repeat(64) + '","parents":[],"paths":["data"],"message":"m","author":"x <x@y>","time":"2026-11-22T04:12:00.000Z","git":null,"run":null}');
    expect(encodeCommit({ ...plain, identity: null, key: null }).toString('utf8')).toBe(bytes);
    expect(encodeCommit({ ...plain, identity: 'staging', key: null }).toString('utf8')).toBe(`${bytes.slice(0, -1)},"identity":"staging","key":null}`);
  });

  it('read as null from an older commit, and as written from a new one', async () => {
    const root = tmp.make('dv-audit-');
    const repo = await Repo.init(root);
    let old: string;
    let audited: string;
    try {
      const tree = await repo.withLock('t', async () => {
        old = await repo.objects.writeCommit({ ...plain, tree: (await repo.readCommit(await repo.commitChanges('main', new Map(), 'empty'))).tree });
        const c = await repo.readCommit(old);
        audited = await repo.writeCommit({ tree: c.tree, parents: [old], paths: [], message: 'by a job', actor: { identity: 'staging', key: 'DVAAAAAAAAAAAAAAAAAA' } });
        repo.refs.set('heads/main', audited);
        repo.blobs.flush();
        return c.tree;
      });
      expect(blake3Hex(encodeCommit({ ...plain, tree }))).toBe(old!);
    } finally {
      repo.close();
    }
    const log = await dvJson<{ id: string; identity: string | null; key: string | null }[]>(root, ['log', '--json', '-n', '2']);
    expect(log.map((e) => [e.id, e.identity, e.key])).toEqual([[audited!, 'staging', 'DVAAAAAAAAAAAAAAAAAA'], [old!, null, null]]);
  });
});

// The key store: private file, atomic replacement, secrets returned once, globs.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { DvError } from '../../src/store/errors.js';
import { canRead, canWrite, KeyStore, matchesAny } from '../../src/s3proxy/keys.js';

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dv-keys-'));
  path = join(dir, 'keys.json');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('KeyStore', () => {
  test('create returns the secret once; list never shows it; file is 0600', () => {
    const ks = new KeyStore(path);
    const k = ks.create({ read: ['*'], write: ['staging'] });
    expect(k.id).toMatch(/^DV[A-Z2-7]{18}$/);
    expect(k.secret).toHaveLength(40);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const listed = ks.list();
    expect(listed).toEqual([{ id: k.id, read: ['*'], write: ['staging'], created: k.created }]);
    expect(JSON.stringify(listed)).not.toContain(k.secret);
    expect(ks.lookup(k.id)?.secret).toBe(k.secret);
    expect(ks.lookup('nope')).toBeNull();
  });

  test('writes replace the file atomically and leave no temp files', () => {
    const ks = new KeyStore(path);
    ks.create({ read: ['*'] });
    const ino = statSync(path).ino;
    ks.create({ read: ['main'] });
    expect(statSync(path).ino).not.toBe(ino); // renamed into place, not rewritten in place
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f !== 'keys.json.lock.db')).toEqual(['keys.json']); // the lock's kernel-lock file stays
    expect(JSON.parse(readFileSync(path, 'utf8')).keys).toHaveLength(2);
  });

  test('revoke applies to a store that already cached the file', () => {
    const server = new KeyStore(path);
    const cli = new KeyStore(path);
    const k = cli.create({ read: ['*'] });
    expect(server.lookup(k.id)).not.toBeNull();
    cli.revoke(k.id);
    expect(server.lookup(k.id)).toBeNull();
    expect(() => cli.revoke(k.id)).toThrow(DvError);
  });

  test('validation: patterns and at least one of read/write', () => {
    const ks = new KeyStore(path);
    expect(() => ks.create({})).toThrow(DvError);
    expect(() => ks.create({ read: ['bad pattern'] })).toThrow(DvError);
    expect(() => ks.create({ read: [''] })).toThrow(DvError);
    writeFileSync(path, 'not json');
    expect(() => new KeyStore(path).list()).toThrow(DvError);
  });

  test('a missing file means no keys', () => {
    expect(new KeyStore(path).list()).toEqual([]);
  });
});

describe('ref patterns', () => {
  test('globs: * spans slashes, ? is one character, the rest literal', () => {
    expect(matchesAny(['*'], 'feature/a/b')).toBe(true);
    expect(matchesAny(['feature/*'], 'feature/a')).toBe(true);
    expect(matchesAny(['feature/*'], 'feature')).toBe(false);
    expect(matchesAny(['staging'], 'staging2')).toBe(false);
    expect(matchesAny(['v?'], 'v1')).toBe(true);
    expect(matchesAny(['a.b'], 'aXb')).toBe(false);
  });
  test('read and write patterns are separate', () => {
    const key = { id: 'K', read: ['*'], write: ['staging'], created: '' };
    expect(canRead(key, 'main')).toBe(true);
    expect(canWrite(key, 'main')).toBe(false);
    expect(canWrite(key, 'staging')).toBe(true);
    const ro = { id: 'R', read: ['*'], write: [], created: '' };
    expect(canWrite(ro, 'main')).toBe(false);
  });
  test('versions by commit id are readable only with --read "*"', () => {
    const id = 'abc1234';
    expect(canRead({ id: 'K', read: ['abc*'], write: [], created: '' }, id, 'commit')).toBe(false);
    expect(canRead({ id: 'K', read: ['*'], write: [], created: '' }, id, 'commit')).toBe(true);
  });
});

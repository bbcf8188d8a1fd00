// The key <-> tree path escape (keypath.ts) and S3 key order (key-order.ts).
import { describe, expect, it } from 'vitest';
import { keyToPath, pathToKey } from '../../src/s3proxy/keypath.js';
import { cmpKey } from '../../src/s3proxy/key-order.js';

describe('key paths', () => {
  it('escape empty and all-% segments only, and every key round-trips', () => {
    const cases: [string, string][] = [
      ['data/a.csv', 'data/a.csv'], ['a%b/c%', 'a%b/c%'], ['a//b', 'a/%/b'], ['/a', '%/a'], ['a//', 'a/%/'], ['/', '%/'],
      ['a/%', 'a/%%'], ['%%/x', '%%%/x'], ['a///b', 'a/%/%/b'], ['dir/', 'dir/'],
    ];
    for (const [key, p] of cases) {
      expect(keyToPath(key)).toBe(p);
      expect(pathToKey(p)).toBe(key);
    }
    // No two keys share a path.
    const keys = ['a//b', 'a/%/b', 'a/%%/b', 'a/b', '/a/b', '%/a/b'];
    expect(new Set(keys.map(keyToPath)).size).toBe(keys.length);
  });

  it('order keys by UTF-8 bytes, also where UTF-16 differs', () => {
    const keys = ['a/\u{1F600}', 'a/\uFFFD', 'a//b', 'a/-', 'a/%', 'a'];
    expect([...keys].sort(cmpKey)).toEqual([...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });
});

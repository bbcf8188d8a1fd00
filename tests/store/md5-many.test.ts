// md5Many (native/md5x16.c): MD5 of up to 16 messages side by side in AVX-512 lanes, for
// the MD5 thread (src/repo/md5-worker.ts). Every digest must be OpenSSL's, whatever the
// lengths next to it (lanes end at different blocks; padding takes one block or two),
// for views of ordinary and shared buffers; a CPU without AVX-512F gets null, not a
// wrong answer.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { nativeAddon } from '../../src/store/native-addon.js';

type Md5Many = (views: Uint8Array[]) => Buffer | null;

it('hashes many messages side by side exactly as OpenSSL does, or says it cannot', () => {
  const md5Many = nativeAddon()?.md5Many as Md5Many | undefined;
  expect(typeof md5Many, 'npm ci builds the native addon').toBe('function');
  const avx512 = /^flags\s*:.*\bavx512f\b/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  if (!avx512) {
    expect(md5Many!([new Uint8Array(10)])).toBeNull();
    return;
  }
  const shared = new Uint8Array(new SharedArrayBuffer(1 << 20));
  crypto.randomFillSync(shared);
  const plain = crypto.randomBytes(1 << 20);
  // Around every padding boundary (55/56/63/64 bytes of a last block), empty, and large.
  const lengths = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 121, 127, 128, 129, 1000, 4096, 65_536, 100_003, 262_144, 300_001];
  for (let i = 0; i < 20; i++) lengths.push(Math.floor(Math.random() * 200_000));
  const views = lengths.map((n, i) => (i % 2 ? shared : plain).subarray(i * 7, i * 7 + n));
  const want = (v: Uint8Array) => crypto.createHash('md5').update(v).digest('hex');
  for (const group of [views, views.slice(0, 1), views.slice(3, 20), views.slice(0, 16)]) {
    const out = md5Many!(group)!;
    expect(out.length).toBe(group.length * 16);
    expect(group.map((_, i) => out.toString('hex', i * 16, i * 16 + 16))).toEqual(group.map(want));
  }
  expect(md5Many!([])!.length).toBe(0);
  expect(() => md5Many!([new Uint16Array(4) as unknown as Uint8Array])).toThrow(/Uint8Arrays/);
});

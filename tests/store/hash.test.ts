// Every id in dv is BLAKE3-256, computed by the native binding where it loads and by hash-wasm
// elsewhere; both must agree bit for bit with each other and with the reference vectors.
import { describe, it, expect, vi } from 'vitest';
import { blake3, blake3Hex, blake3Implementation, makeHasher, type Hasher } from '../../src/store/hash.js';

// BLAKE3-team/BLAKE3 test_vectors/test_vectors.json: input is bytes i % 251; the `hash` field is
// a 131-byte extended output whose first 32 bytes are the default digest.
const VECTORS: Record<number, string> = {
  0: 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
  1: '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213',
  1023: '10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11',
  1024: '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7',
  1025: 'd00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444',
  2048: 'e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a',
  2049: '5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030',
  3072: 'b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2',
  4096: '015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969',
  4097: '9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995',
  8193: 'bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b',
  16384: 'f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4',
  31744: '62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47',
  102400: 'bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085',
};
const ABC = '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85';

const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i % 251));

function prng(seed: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { // xorshift32: deterministic, good enough for test data
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

/** Feeds `data` to a fresh hasher in pieces whose sizes come from `seed` (0 = one update). */
async function streamed(impl: 'native' | 'wasm', data: Uint8Array, seed = 0): Promise<Hasher> {
  const h = await makeHasher(impl);
  if (seed === 0) return h.update(data);
  const sizes = prng(seed, 4096);
  for (let off = 0, k = 0; off < data.length; k++) {
    // mostly small odd pieces, sometimes large ones, so pieces straddle 1 KiB chunk borders
    const n = sizes[k % sizes.length] % 7 === 0 ? sizes[k % sizes.length] * 1031 : sizes[k % sizes.length] + 1;
    h.update(data.subarray(off, off + n));
    off += n;
  }
  return h;
}

describe('BLAKE3 implementations', () => {
  it('reports which implementation blake3() uses', () => {
    expect(['native', 'wasm']).toContain(blake3Implementation);
  });

  it('hash "abc" to the well-known digest', async () => {
    expect(blake3Hex('abc')).toBe(ABC);
    expect(blake3(Buffer.from('abc')).toString('hex')).toBe(ABC);
    for (const impl of ['native', 'wasm'] as const) {
      expect((await makeHasher(impl)).update(Buffer.from('a')).update(Buffer.from('bc')).digestHex()).toBe(ABC);
    }
  });

  it('match the official test vectors', async () => {
    for (const [len, expected] of Object.entries(VECTORS)) {
      const input = pattern(Number(len));
      expect(blake3(input).toString('hex'), `blake3() len ${len}`).toBe(expected);
      for (const impl of ['native', 'wasm'] as const) {
        expect((await streamed(impl, input)).digestHex(), `${impl} len ${len}`).toBe(expected);
        expect((await streamed(impl, input, 7)).digest().toString('hex'), `${impl} split len ${len}`).toBe(expected);
      }
    }
  });

  it('agree on random data of awkward lengths, in one piece or many', async () => {
    for (const len of [0, 1, 1023, 1024, 1025, 65536, (1 << 20) + 7]) {
      const data = prng(len + 1, len);
      const expected = blake3(data);
      expect(expected.length).toBe(32);
      for (const impl of ['native', 'wasm'] as const) {
        for (const seed of [0, 3, 99]) {
          const h = await streamed(impl, data, seed);
          expect(h.digest().equals(expected), `${impl} len ${len} seed ${seed}`).toBe(true);
        }
      }
    }
  });

  it('hash only the viewed bytes of a Uint8Array view', async () => {
    const backing = prng(5, 5000);
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 123, 3000);
    const expected = blake3(Buffer.from(view)).toString('hex');
    expect(blake3(view).toString('hex')).toBe(expected);
    expect(blake3Hex(view)).toBe(expected);
    for (const impl of ['native', 'wasm'] as const) {
      expect((await makeHasher(impl)).update(view).digestHex()).toBe(expected);
    }
  });

  it('keep concurrent hashers independent of each other and of blake3()', async () => {
    const a = prng(1, 300_000), b = prng(2, 300_000);
    for (const impl of ['native', 'wasm'] as const) {
      const ha = await makeHasher(impl), hb = await makeHasher(impl);
      for (let off = 0; off < a.length; off += 50_000) {
        ha.update(a.subarray(off, off + 50_000));
        blake3(b); // the one-shot wasm path reuses a shared instance
        hb.update(b.subarray(off, off + 50_000));
      }
      expect(ha.digest().equals(blake3(a))).toBe(true);
      expect(hb.digest().equals(blake3(b))).toBe(true);
    }
  });

  it('blake3() agrees when forced onto the wasm fallback (DV_BLAKE3=wasm)', async () => {
    const saved = process.env.DV_BLAKE3;
    process.env.DV_BLAKE3 = 'wasm';
    vi.resetModules();
    try {
      const fallback = await import('../../src/store/hash.js');
      expect(fallback.blake3Implementation).toBe('wasm');
      expect(fallback.blake3Hex('abc')).toBe(ABC);
      for (const len of [0, 1025, 102400]) {
        expect(fallback.blake3(pattern(len)).toString('hex')).toBe(VECTORS[len]);
      }
      const data = prng(9, (1 << 20) + 7);
      expect(fallback.blake3(data).equals(blake3(data))).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.DV_BLAKE3;
      else process.env.DV_BLAKE3 = saved;
      vi.resetModules();
    }
  });
});

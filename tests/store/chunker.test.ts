// The chunker must cut exactly where fastcdc-rs v2020 (FastCDC::new, normalized chunking level 1)
// cuts. Ground truth here: a literal BigInt port of fastcdc-rs `v2020::cut` (two bytes per
// iteration, pre-shifted table, GEAR regenerated from MD5 as fastcdc-rs examples/table64.rs does,
// so it shares no table with the implementation), pinned to the values published in the crate's
// own tests; the fast int32 implementation is then compared with it on seeded random data.
import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DvError } from '../../src/store/errors.js';
import {
  chunkLengths, chunkStream, cut, DEFAULT_CHUNKER, jsCut, nativeCdcActive, validateParams, type ChunkerParams,
} from '../../src/store/chunker.js';

// ---- reference: fastcdc-rs src/v2020/mod.rs `cut`, transcribed ----
const M64 = (1n << 64n) - 1n;
const GEAR: bigint[] = [];
for (let i = 0; i < 256; i++) GEAR.push(createHash('md5').update(Buffer.alloc(64, i)).digest().readBigUInt64BE(0));
const GEAR_LS = GEAR.map((g) => (g << 1n) & M64);
const MASKS: bigint[] = [0n, 0n, 0n, 0n, 0n, 0x1804110n, 0x1803110n, 0x18035100n, 0x1800035300n,
  0x19000353000n, 0x590003530000n, 0xd90003530000n, 0xd90103530000n, 0xd90303530000n,
  0xd90313530000n, 0xd90f03530000n, 0xd90303537000n, 0xd90703537000n, 0xd90707537000n,
  0xd91707537000n, 0xd91747537000n, 0xd91767537000n, 0xd93767537000n, 0xd93777537000n,
  0xd93777577000n, 0xdb3777577000n];

/** fastcdc-rs `FastCDC::cut(start, remaining)` -> (hash, chunk length). */
function refCut(src: Uint8Array, start: number, len: number, p: ChunkerParams): [bigint, number] {
  const bits = Math.round(Math.log2(p.avg));
  const maskS = MASKS[bits + 1], maskL = MASKS[bits - 1];
  const maskSls = maskS << 1n, maskLls = maskL << 1n;
  let remaining = len;
  if (remaining <= p.min) return [0n, remaining];
  let center = p.avg;
  if (remaining > p.max) remaining = p.max;
  else if (remaining < center) center = remaining;
  let index = Math.floor(p.min / 2);
  let hash = 0n;
  for (const [limit, ms, msls] of [[Math.floor(center / 2), maskS, maskSls], [Math.floor(remaining / 2), maskL, maskLls]] as const) {
    while (index < limit) {
      const a = index * 2;
      hash = ((hash << 2n) + GEAR_LS[src[start + a]]) & M64;
      if ((hash & msls) === 0n) return [hash, a];
      hash = (hash + GEAR[src[start + a + 1]]) & M64;
      if ((hash & ms) === 0n) return [hash, a + 1];
      index++;
    }
  }
  return [hash, remaining];
}

function refChunks(src: Uint8Array, p: ChunkerParams): [bigint, number][] {
  const out: [bigint, number][] = [];
  for (let off = 0; off < src.length;) {
    const c = refCut(src, off, src.length - off, p);
    out.push(c);
    off += c[1];
  }
  return out;
}

// ---- seeded data ----
function prng(seed: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { // mulberry32, one byte per step
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = (t ^ (t >>> 14)) >>> 24;
  }
  return out;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const lengthsOf = (chunks: [bigint, number][]) => chunks.map((c) => c[1]);
const P = (min: number, avg: number, max: number): ChunkerParams => ({ min, avg, max });

/** Random stretches mixed with zero runs and a short repeated pattern: exercises cuts in both
 *  mask phases, max-size cuts with no cut point, and odd-length tails. */
function mixed(seed: number, n: number): Buffer {
  const out = prng(seed, n);
  const ctl = prng(seed + 1, 64);
  for (let k = 0, at = 0; k < 16 && at < n; k++) {
    at += (ctl[k * 2] << 10) + 1;
    const len = Math.min(n - at, (ctl[k * 2 + 1] << 11) + 3);
    if (len <= 0) break;
    if (k % 2 === 0) out.fill(0, at, at + len);
    else for (let i = 0; i < len; i++) out[at + i] = 'dvdata!'.charCodeAt(i % 7);
    at += len;
  }
  return out;
}

describe('fastcdc-rs v2020 oracle (BigInt port, checked against the crate\'s published values)', () => {
  it('regenerates the published GEAR table from MD5', () => {
    expect(GEAR[0]).toBe(0x3b5d3c7d207e37dcn);
    expect(GEAR[1]).toBe(0x784d68ba91123086n);
    expect(GEAR[10]).toBe(0x0027baaada2acf6bn);
    expect(GEAR[104]).toBe(0xd141045bfb385cadn);
    expect(GEAR[255]).toBe(0xaabd2b2a451504e1n);
  });

  it('test_cut_all_zeros: max-size chunks with the published hash', () => {
    const zeros = new Uint8Array(10240);
    const p = P(64, 256, 1024);
    expect(refChunks(zeros, p)).toEqual(new Array(10).fill([14169102344523991076n, 1024]));
    expect(refCut(zeros, 10240, 0, p)[1]).toBe(0);
  });
});

describe('cut / chunkLengths', () => {
  it('all zeros: always max-size chunks, nothing after the end (test_cut_all_zeros)', () => {
    const zeros = new Uint8Array(10240);
    const p = P(64, 256, 1024);
    for (let cursor = 0; cursor < 10240; cursor += 1024) expect(cut(zeros, cursor, 10240, p)).toBe(1024);
    expect(cut(zeros, 10240, 10240, p)).toBe(0);
    expect(chunkLengths(zeros, p)).toEqual(new Array(10).fill(1024));
    expect(chunkLengths(new Uint8Array(0), DEFAULT_CHUNKER)).toEqual([]);
  });

  const cases: [string, ChunkerParams, number][] = [
    ['default 16K/64K/256K', DEFAULT_CHUNKER, 8 << 20],
    ['4096/16384/65535 (Sekien 16k)', P(4096, 16384, 65535), 4 << 20],
    ['8192/32768/131072 (Sekien 32k)', P(8192, 32768, 131072), 8 << 20],
    ['64/256/1024 (smallest allowed)', P(64, 256, 1024), 512 << 10],
    ['odd min 4095/16384/65535', P(4095, 16384, 65535), 2 << 20],
    ['odd min 65/256/1024 (cuts at min - 1 happen)', P(65, 256, 1024), 1 << 20],
    ['non powers of two 1000/5000/9999', P(1000, 5000, 9999), 1 << 20],
    ['256K/1M/4M', P(262144, 1048576, 4194304), 16 << 20],
  ];
  for (const [name, p, size] of cases) {
    it(`matches the oracle on random and mixed data: ${name}`, () => {
      for (const data of [prng(size, size + 1), mixed(size, size + 7)]) {
        const ref = lengthsOf(refChunks(data, p));
        expect(ref.length).toBeGreaterThan(2);
        expect(chunkLengths(data, p)).toEqual(ref);
      }
    });
  }

  it('matches the oracle for inputs around min, avg and max', () => {
    for (const p of [P(256, 1024, 4096), DEFAULT_CHUNKER, P(4095, 16384, 65535)]) {
      const data = mixed(99, 2 * p.max + 3);
      for (const base of [0, 1, p.min - 1, p.min, p.avg - 1, p.avg, p.max - 1, p.max]) {
        for (const n of [base, base + 1, base + 2]) {
          const slice = data.subarray(0, n);
          expect(chunkLengths(slice, p), `${JSON.stringify(p)} n=${n}`).toEqual(lengthsOf(refChunks(slice, p)));
        }
      }
    }
  });

  it('matches the oracle on many short inputs (odd centres, odd tails)', () => {
    const data = prng(77, 1 << 20);
    const ctl = prng(78, 3 * 4000);
    for (const p of [P(64, 256, 1024), P(65, 300, 1024)]) {
      for (let k = 0; k < 4000; k++) {
        const off = ((ctl[3 * k] << 8) | ctl[3 * k + 1]) * 8;
        const n = 60 + ((ctl[3 * k + 2] * 5) % 1100);
        const slice = data.subarray(off, off + n);
        expect(chunkLengths(slice, p)).toEqual(lengthsOf(refChunks(slice, p)));
      }
    }
  });

  it('cuts a window [offset, end) of a larger buffer like the oracle cuts that slice', () => {
    const data = prng(5, 1 << 20);
    const ctl = prng(6, 200);
    for (let k = 0; k < 100; k++) {
      const off = ((ctl[2 * k] << 8) | ctl[2 * k + 1]) * 8;
      const end = Math.min(data.length, off + DEFAULT_CHUNKER.max + k * 97);
      expect(cut(data, off, end, DEFAULT_CHUNKER)).toBe(refCut(data, off, end - off, DEFAULT_CHUNKER)[1]);
    }
    expect(() => cut(data, 10, data.length + 1, DEFAULT_CHUNKER)).toThrow(RangeError);
  });

  it('keeps every chunk within [min, max] except the last', () => {
    for (const p of [DEFAULT_CHUNKER, P(4096, 16384, 65535), P(64, 256, 1024)]) {
      for (const data of [prng(11, (8 << 20) + 3), mixed(12, (4 << 20) + 1), new Uint8Array((1 << 20) + 5)]) {
        const lengths = chunkLengths(data, p);
        expect(lengths.reduce((a, b) => a + b, 0)).toBe(data.length);
        expect(lengths.slice(0, -1).filter((n) => n < p.min || n > p.max)).toEqual([]);
        expect(lengths[lengths.length - 1]).toBeLessThanOrEqual(p.max);
      }
    }
  });

  it('re-synchronises after an insertion: at most 2 chunks change', () => {
    const data = prng(21, 8 << 20);
    const ids = (b: Uint8Array) => {
      const out: string[] = [];
      let off = 0;
      for (const n of chunkLengths(b, DEFAULT_CHUNKER)) { out.push(sha256(b.subarray(off, off + n))); off += n; }
      return out;
    };
    const before = new Set(ids(data));
    expect(before.size).toBeGreaterThan(50);
    for (const at of [0, 3_000_001]) {
      const edited = Buffer.concat([data.subarray(0, at), Buffer.from([0x42]), data.subarray(at)]);
      const changed = ids(edited).filter((id) => !before.has(id));
      expect(changed.length, `insert at ${at}`).toBeLessThanOrEqual(2);
    }
  });
});

describe('validateParams', () => {
  it('accepts the defaults and the fastcdc-rs extremes', () => {
    expect(DEFAULT_CHUNKER).toEqual({ min: 16384, avg: 65536, max: 262144 });
    for (const p of [DEFAULT_CHUNKER, P(64, 256, 1024), P(1 << 20, 4 << 20, 1 << 30)]) {
      expect(() => validateParams(p)).not.toThrow();
    }
  });

  it('rejects nonsense with a DvError (the fastcdc-rs should_panic cases and more)', () => {
    const bad = [
      P(63, 256, 1024), P(67_108_867, 256, 1024), P(64, 255, 1024), P(64, 268_435_457, 1024),
      P(64, 256, 1023), P(64, 256, 1_073_741_825), P(4096, 2048, 65536), P(4096, 16384, 8192),
      P(4096.5, 16384, 65536), P(NaN, 16384, 65536), { min: 4096, avg: 16384 } as ChunkerParams,
    ];
    for (const p of bad) expect(() => validateParams(p), JSON.stringify(p)).toThrow(DvError);
    expect(() => cut(new Uint8Array(10), 0, 10, P(63, 256, 1024))).toThrow(DvError);
  });
});

async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of gen) out.push(c);
  return out;
}

/** Yields `data` in pieces cycling through `sizes`, always through one reused buffer. */
async function* pieces(data: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  const scratch = Buffer.alloc(Math.max(...sizes));
  for (let off = 0, k = 0; off < data.length; k++) {
    const n = Math.min(sizes[k % sizes.length], data.length - off);
    scratch.set(data.subarray(off, off + n));
    yield scratch.subarray(0, n);
    scratch.fill(0xee); // a source may recycle its buffer as soon as we ask for the next one
    off += n;
  }
}

describe('chunkStream', () => {
  it('gives the same chunks as chunkLengths however the input is split', async () => {
    const big = mixed(31, (3 << 20) + 12345);
    const small = prng(32, (1 << 20) + 333);
    const runs: [Uint8Array, ChunkerParams, number[]][] = [
      [small, DEFAULT_CHUNKER, [1]],
      [small, P(1024, 4096, 16384), [1]],
      [big, DEFAULT_CHUNKER, [1, 7, 4093, 65537, 262143, 300007, (1 << 20) + 1]],
      [big, DEFAULT_CHUNKER, [1 << 20]],
      [big, DEFAULT_CHUNKER, [big.length]],
      [big, P(4096, 16384, 65535), [3, 65535, 131071, 17]],
    ];
    for (const [data, p, sizes] of runs) {
      const expected = chunkLengths(data, p);
      const chunks = await collect(chunkStream(pieces(data, sizes), p));
      expect(chunks.map((c) => c.length), `sizes ${sizes}`).toEqual(expected);
      expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true);
      for (const c of chunks) {
        expect(Buffer.isBuffer(c)).toBe(true);
        // a kept chunk must not pin a large input or work buffer
        expect(c.buffer.byteLength).toBeLessThanOrEqual(Math.max(c.length, 8192));
      }
    }
  });

  it('handles empty and tiny inputs', async () => {
    expect(await collect(chunkStream(pieces(new Uint8Array(0), [1]), DEFAULT_CHUNKER))).toEqual([]);
    const tiny = await collect(chunkStream(pieces(Buffer.from('hello'), [2]), DEFAULT_CHUNKER));
    expect(tiny.map(String)).toEqual(['hello']);
  });

  it('rejects invalid parameters', async () => {
    await expect(collect(chunkStream(pieces(Buffer.from('x'), [1]), P(1, 2, 3)))).rejects.toThrow(DvError);
  });
});

// fastcdc-rs tests chunk test/fixtures/SekienAkashita.jpg; the image is binary and could not be
// obtained for this repository, so these run only once someone drops the exact file in fixtures/.
const SEKIEN = new URL('../../fixtures/SekienAkashita.jpg', import.meta.url);
describe('fastcdc-rs published vectors on SekienAkashita.jpg (committed in fixtures/)', () => {
  const image = readFileSync(SEKIEN);
  const published: [string, ChunkerParams, [bigint, number][]][] = [
    ['test_cut_sekien_16k_chunks', P(4096, 16384, 65535), [
      [17968276318003433923n, 21325], [8197189939299398838n, 17140], [13019990849178155730n, 28084],
      [4509236223063678303n, 18217], [2504464741100432583n, 24700]]],
    ['test_cut_sekien_32k_chunks', P(8192, 32768, 131072), [
      [15733367461443853673n, 66549], [6321136627705800457n, 42917]]],
    ['test_cut_sekien_64k_chunks', P(16384, 65536, 262144), [[2504464741100432583n, 109466]]],
  ];

  it('is the exact fixture', () => {
    expect(image.length).toBe(109466);
    expect(sha256(image)).toBe('d9e749d9367fc908876749d6502eb212fee88c9a94892fb07da5ef3ba8bc39ed');
  });

  for (const [name, p, expected] of published) {
    it(name, async () => {
      expect(refChunks(image, p)).toEqual(expected);
      expect(chunkLengths(image, p)).toEqual(expected.map((e) => e[1]));
      const streamed = await collect(chunkStream(pieces(image, [4096]), p));
      expect(streamed.map((c) => c.length)).toEqual(expected.map((e) => e[1]));
    });
  }

  it('test_iter_sekien_16k_chunks: chunk MD5 digests', () => {
    let off = 0;
    const md5s = chunkLengths(image, P(4096, 16384, 65535)).map((n) => {
      const h = createHash('md5').update(image.subarray(off, off + n)).digest('hex');
      off += n;
      return h;
    });
    expect(md5s).toEqual(['2bb52734718194617c957f5e07ee6054', 'badfb0757fe081c20336902e7131f768',
      '18412d7414de6eb42f638351711f729d', '04fe1405fc5f960363bfcd834c056407', '1aa7ad95f274d6ba34a983946ebc5af3']);
  });
});

describe('native cut (native/cdc.c)', () => {
  it('cuts exactly where the JavaScript loop cuts', () => {
    expect(nativeCdcActive, 'npm ci builds the native addon').toBe(true);
    const sets: ChunkerParams[] = [DEFAULT_CHUNKER, { min: 4096, avg: 16384, max: 65535 }, { min: 64, avg: 256, max: 1024 }, { min: 8191, avg: 32768, max: 131072 }];
    for (const p of sets) {
      const data = Buffer.alloc(3 << 20);
      let x = 12345;
      for (let i = 0; i < data.length; i++) { x = (x * 1103515245 + 12345) >>> 0; data[i] = i % 7000 < 2000 ? 0 : x >>> 24; }
      for (let off = 0; off < data.length;) {
        const n = cut(data, off, data.length, p);
        expect(n).toBe(jsCut(data, off, data.length, p));
        off += n;
      }
      // Windows shorter than max, and every small remainder at the end.
      for (const len of [0, 1, 63, 64, 65, p.min, p.min + 1, p.avg - 1, p.avg, p.max - 1]) {
        expect(cut(data, 100, 100 + len, p)).toBe(jsCut(data, 100, 100 + len, p));
      }
    }
  });
});

// Content-defined chunking: FastCDC 2020 exactly as the Rust crate fastcdc-rs implements it in
// `fastcdc::v2020::FastCDC::new(min, avg, max)`: normalized chunking level 1, 64-bit gear hash,
// the unseeded GEAR table (first 8 bytes of MD5 of 64 copies of the byte value, big-endian) and
// the destor/restic MASKS. Chunk boundaries decide chunk ids, so they are part of the on-disk
// format: matching a published implementation gives us external test vectors and lets other
// tools reproduce our chunking, and the 64-bit/NC-1 variant is what docs/ARCHITECTURE.md pins.
//
// Why the code does not look like the Rust:
// - fastcdc-rs rolls two bytes per iteration with a pre-shifted table. That is an unrolling of
//   the one-byte recurrence h = (h << 1) + GEAR[b] mod 2^64, whose even-byte test
//   (h << 1) & (mask << 1) equals h & mask because no mask uses bit 63. We unroll one-byte steps
//   instead, and keep its observable quirks: scanning starts at min rounded down to even, both
//   phases end on even bounds, and a match at byte i cuts *before* it (length i).
// - All masks are below 2^48 and bits 0..47 of (h << 1) + g depend only on bits 0..47 of h and
//   g, so h mod 2^48 is kept as two int32 limbs (bits 0..15 and 16..47): plain int32 arithmetic,
//   no BigInt, about 550-850 MB/s here; the C loop (native/cdc.c) about 3.4 GB/s (bench/chunker-throughput.ts).
import { DvError } from './errors.js';
import { loadNativeCdc, type NativeCdc } from './native-cdc.js';

export interface ChunkerParams { min: number; avg: number; max: number }

export const DEFAULT_CHUNKER: ChunkerParams = Object.freeze({ min: 16384, avg: 65536, max: 262144 });

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Throws DvError unless fastcdc-rs would accept the sizes (except max, allowed up to 1 GiB). */
export function validateParams(p: ChunkerParams): void {
  const bad = (why: string) =>
    new DvError(`invalid chunker parameters (min=${p?.min}, avg=${p?.avg}, max=${p?.max}): ${why}`);
  if (p === null || typeof p !== 'object') throw bad('not an object');
  if (![p.min, p.avg, p.max].every((v) => Number.isSafeInteger(v))) throw bad('sizes must be integers');
  if (p.min < 64 || p.min > MiB) throw bad('min must be between 64 and 1 MiB');
  if (p.avg < 256 || p.avg > 4 * MiB) throw bad('avg must be between 256 and 4 MiB');
  if (p.max < KiB || p.max > GiB) throw bad('max must be between 1 KiB and 1 GiB');
  if (p.min > p.avg || p.avg > p.max) throw bad('need min <= avg <= max');
}

interface Derived {
  min: number; avg: number; max: number;
  sLo: number; sHi: number; // mask_s (before the average size) split like the hash
  lLo: number; lHi: number; // mask_l (after it)
  sMask: number; lMask: number; // the same masks as 48-bit numbers, for the C loop
}

// cut() is called once per chunk with the same params; remember the last derivation.
let last: Derived | null = null;

function derive(p: ChunkerParams): Derived {
  if (last !== null && last.min === p.min && last.avg === p.avg && last.max === p.max) return last;
  validateParams(p);
  // fastcdc-rs: bits = round(log2(avg)); level 1 uses one more bit before avg, one fewer after.
  const bits = Math.round(Math.log2(p.avg));
  const s = MASKS[bits + 1];
  const l = MASKS[bits - 1];
  last = { min: p.min, avg: p.avg, max: p.max, sLo: s[0], sHi: s[1], lLo: l[0], lHi: l[1],
    sMask: s[0] + (s[1] >>> 0) * 0x10000, lMask: l[0] + (l[1] >>> 0) * 0x10000 };
  return last;
}

// Hash state carried from the first scan phase into the second without allocating a result.
let hashLo = 0; // bits 0..15 of the gear hash
let hashHi = 0; // bits 16..47 (int32; anything above bit 47 is never tested)

/** Rolls the hash over buf[i, stop) ((stop - i) is even); returns the matching index or stop. */
function scan(buf: Uint8Array, i: number, stop: number, mLo: number, mHi: number): number {
  let lo = hashLo;
  let hi = hashHi;
  for (; i < stop; i += 2) {
    let x = buf[i];
    let t = (lo << 1) + GEAR_LO[x];
    hi = ((hi << 1) + GEAR_HI[x] + (t >>> 16)) | 0;
    lo = t & 0xffff;
    if (((lo & mLo) | (hi & mHi)) === 0) break;
    x = buf[i + 1];
    t = (lo << 1) + GEAR_LO[x];
    hi = ((hi << 1) + GEAR_HI[x] + (t >>> 16)) | 0;
    lo = t & 0xffff;
    if (((lo & mLo) | (hi & mHi)) === 0) { i++; break; }
  }
  hashLo = lo;
  hashHi = hi;
  return i;
}

/** Length of the chunk starting at `offset` in buf[offset, end). If end-offset <= p.min returns end-offset.
 *  The caller guarantees end-offset >= p.max unless this is the end of the input. */
export function cut(buf: Uint8Array, offset: number, end: number, p: ChunkerParams): number {
  const d = derive(p);
  if (!(offset >= 0 && offset <= end && end <= buf.length)) {
    throw new RangeError(`chunker: bad range [${offset}, ${end}) of ${buf.length} bytes`);
  }
  if (native && Buffer.isBuffer(buf)) return native.cdcCut(buf, offset, end, d.min, d.avg, d.max, d.sMask, d.lMask);
  return jsCut(buf, offset, end, d);
}

/** The JavaScript loop; exported for the test that holds the C loop to it. */
export function jsCut(buf: Uint8Array, offset: number, end: number, p: ChunkerParams): number {
  const d = derive(p);
  let remaining = end - offset;
  if (remaining <= d.min) return remaining;
  let center = d.avg;
  if (remaining > d.max) remaining = d.max;
  else if (remaining < center) center = remaining;
  hashLo = 0;
  hashHi = 0;
  const mid = offset + (center & ~1);
  const stop = offset + (remaining & ~1);
  let i = scan(buf, offset + (d.min & ~1), mid, d.sLo, d.sHi);
  if (i < mid) return i - offset;
  i = scan(buf, i, stop, d.lLo, d.lHi);
  // No cut point (e.g. all zeros): the whole window, including an odd last byte never hashed.
  return i < stop ? i - offset : remaining;
}

/** All chunk lengths of a whole buffer (for tests and small inputs). */
export function chunkLengths(buf: Uint8Array, p: ChunkerParams): number[] {
  const out: number[] = [];
  for (let off = 0; off < buf.length;) {
    const n = cut(buf, off, buf.length, p);
    out.push(n);
    off += n;
  }
  return out;
}

function copyOut(src: Uint8Array, pos: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  b.set(src.subarray(pos, pos + n));
  return b;
}

/** Streaming: yields chunks (as Buffers that the consumer may keep) from any async iterable of buffers,
 *  never holding more than ~2*max + one input buffer in memory. */
export async function* chunkStream(source: AsyncIterable<Uint8Array>, p: ChunkerParams): AsyncGenerator<Buffer> {
  validateParams(p);
  const max = p.max;
  // Chunks are copied out, so sources may reuse their buffers and consumers may keep chunks
  // without pinning large input buffers.
  const work = Buffer.allocUnsafeSlow(2 * max);
  let len = 0;
  for await (const piece of source) {
    let pos = 0;
    if (len === 0) {
      // Nothing carried over: cut straight from the input and skip copying it into `work`.
      while (piece.length - pos >= max) {
        const n = cut(piece, pos, piece.length, p);
        yield copyOut(piece, pos, n);
        pos += n;
      }
    }
    while (pos < piece.length) {
      const take = Math.min(work.length - len, piece.length - pos);
      work.set(piece.subarray(pos, pos + take), len);
      len += take;
      pos += take;
      if (len === work.length) {
        let start = 0;
        while (len - start >= max) {
          const n = cut(work, start, len, p);
          yield copyOut(work, start, n);
          start += n;
        }
        work.copyWithin(0, start, len);
        len -= start;
      }
    }
  }
  for (let start = 0; start < len;) {
    const n = cut(work, start, len, p);
    yield copyOut(work, start, n);
    start += n;
  }
}

// fastcdc-rs MASKS by bit count (indexes 0..4 unused), as [bits 0..15, bits 16..47] like the hash.
const MASKS: ReadonlyArray<readonly [number, number]> = `
  0 0 0 0 0 1804110 1803110 18035100 1800035300 19000353000 590003530000 d90003530000
  d90103530000 d90303530000 d90313530000 d90f03530000 d90303537000 d90703537000 d90707537000
  d91707537000 d91747537000 d91767537000 d93767537000 d93777537000 d93777577000 db3777577000`
  .trim().split(/\s+/).map((h) => {
    const v = h.padStart(16, '0');
    return [parseInt(v.slice(12), 16), parseInt(v.slice(4, 12), 16) | 0] as const;
  });

// fastcdc-rs v2020 GEAR table (64-bit values, index = byte value).
const GEAR_HEX = `
  3b5d3c7d207e37dc 784d68ba91123086 cd52880f882e7298 eacf8e4e19fdcca7
  c31f385dfbd1632b 1d5f27001e25abe6 83130bde3c9ad991 c4b225676e9b7649
  aa329b29e08eb499 b67fcbd21e577d58 0027baaada2acf6b e3ef2d5ac73c2226
  0890f24d6ed312b7 a809e036851d7c7e f0a6fe5e0013d81b 1d026304452cec14
  03864632648e248f cdaacf3dcd92b9b4 f5e012e63c187856 8862f9d3821c00b6
  a82f7338750f6f8a 1e583dc6c1cb0b6f 7a3145b69743a7f1 abb20fee404807eb
  b14b3cfe07b83a5d b9dc27898adb9a0f 3703f5e91baa62be cf0bb866815f7d98
  3d9867c41ea9dcd3 1be1fa65442bf22c 14300da4c55631d9 e698e9cbc6545c99
  4763107ec64e92a5 c65821fc65696a24 76196c064822f0b7 485be841f3525e01
  f652bc9c85974ff5 cad8352face9e3e9 2a6ed1dceb35e98e c6f483badc11680f
  3cfd8c17e9cf12f1 89b83c5e2ea56471 ae665cfd24e392a9 ec33c4e504cb8915
  3fb9b15fc9fe7451 d7fd1fd1945f2195 31ade0853443efd8 255efc9863e1e2d2
  10eab6008d5642cf 46f04863257ac804 a52dc42a789a27d3 daaadf9ce77af565
  6b479cd53d87febb 6309e2d3f93db72f c5738ffbaa1ff9d6 6bd57f3f25af7968
  67605486d90d0a4a e14d0b9663bfbdae b7bbd8d816eb0414 def8a4f16b35a116
  e7932d85aaaffed6 08161cbae90cfd48 855507beb294f08b 91234ea6ffd399b2
  ad70cf4b2435f302 d289a97565bc2d27 8e558437ffca99de 96d2704b7115c040
  0889bbcdfc660e41 5e0d4e67dc92128d 72a9f8917063ed97 438b69d409e016e3
  df4fed8a5d8a4397 00f41dcf41d403f7 4814eb038e52603f 9dafbacc58e2d651
  fe2f458e4be170af 4457ec414df6a940 06e62f1451123314 bd1014d173ba92cc
  def318e25ed57760 9fea0de9dfca8525 459de1e76c20624b aeec189617e2d666
  126a2c06ab5a83cb b1321532360f6132 65421503dbb40123 2d67c287ea089ab3
  6c93bff5a56bd6b6 4ffb2036cab6d98d ce7b785b1be7ad4f edb42ef6189fd163
  dc905288703988f6 365f9c1d2c691884 c640583680d99bfe 3cd4624c07593ec6
  7f1ea8d85d7c5805 014842d480b57149 0b649bcb5a828688 bcd5708ed79b18f0
  e987c862fbd2f2f0 982731671f0cd82c baf13e8b16d8c063 8ea3109cbd951bba
  d141045bfb385cad 2acbc1a0af1f7d30 e6444d89df03bfdf a18cc771b8188ff9
  9834429db01c39bb 214add07fe086a1f 8f07c19b1f6b3ff9 56a297b1bf4ffe55
  94d558e493c54fc7 40bfc24c764552cb 931a706f8a8520cb 32229d322935bd52
  2560d0f5dc4fefaf 9dbcc48355969bb6 0fd81c3985c0b56a e03817e1560f2bda
  c1bb4f81d892b2d5 b0c4864f4e28d2d7 3ecc49f9d9d6c263 51307e99b52ba65e
  8af2b688da84a752 f5d72523b91b20b6 6d95ff1ff4634806 562f21555458339a
  c0ce47f889336346 487823e5089b40d8 e4727c7ebc6d9592 5a8f7277e94970ba
  fca2f406b1c8bb50 5b1f8a95f1791070 d304af9fc9028605 5440ab7fc930e748
  312d25fbca2ab5a1 10f4a4b234a4d575 90301d55047e7473 3b6372886c61591e
  293402b77c444e06 451f34a4d3e97dd7 3158d814d81bc57b 034942425b9bda69
  e2032ff9e532d9bb 62ae066b8b2179e5 9545e10c2f8d71d8 7ff7483eb2d23fc0
  00945fcebdc98d86 8764bbbe99b26ca2 1b1ec62284c0bfc3 58e0fcc4f0aa362b
  5f4abefa878d458d fd74ac2f9607c519 a4e3fb37df8cbfa9 bf697e43cac574e5
  86f14a3f68f4cd53 24a23d076f1ce522 e725cd8048868cc8 bf3c729eb2464362
  d8f6cd57b3cc1ed8 6329e52425541577 62aa688ad5ae1ac0 0a242566269bf845
  168b1a4753aca74b f789afefff2e7e3c 6c3362093b6fccdb 4ce8f50bd28c09b2
  006a2db95ae8aa93 975b0d623c3d1a8c 18605d3935338c5b 5bb6f6136cad3c71
  0f53a20701f8d8a6 ab8c5ad2e7e93c67 40b5ac5127acaa29 8c7bf63c2075895f
  78bd9f7e014a805c b2c9e9f4f9c8c032 efd6049827eb91f3 2be459f482c16fbd
  d92ce0c5745aaa8c 0aaa8fb298d965b9 2b37f92c6c803b15 8c54a5e94e0f0e78
  95f9b6e90c0a3032 e7939faa436c7874 d16bfe8f6a8a40c9 44982b86263fd2fa
  e285fb39f984e583 779a8df72d7619d3 f2d79a8de8d5dd1e d1037354d66684e2
  004c82a4e668a8e5 31d40a7668b044e6 d70578538bd02c11 db45431078c5f482
  977121bb7f6a51ad 73d5ccbd34eff8dd e437a07d356e17cd 47b2782043c95627
  9fb251413e41d49a ccd70b60652513d3 1c95b31e8a1b49b2 cae73dfd1bcb4c1b
  34d98331b1f5b70f 784e39f22338d92f 18613d4a064df420 f1d8dae25f0bcebe
  33f77c15ae855efc 3c88b3b912eb109c 956a2ec96bafeea5 1aa005b5e0ad0e87
  5500d70527c4bb8e e36c57196421cc44 13c4d286cc36ee39 5654a23d818b2a81
  77b1dc13d161abdc 734f44de5f8d5eb5 60717e174a6c89a2 d47d9649266a211e
  5b13a4322bb69e90 f7669609f8b5fc3c 21e6ac55bedcdac9 9b56b62b61166dea
  f48f66b939797e9c 35f332f9c0e6ae9a cc733f6a9a878db0 3da161e41cc108c2
  b7d74ae535914d51 4d493b0b11d36469 ce264d1dfba9741a a9d1f2dc7436dc06
  70738016604c2a27 231d36e96e93f3d5 7666881197838d19 4a2a83090aaad40c
  f1e761591668b35d 7363236497f730a7 301080e37379dd4d 502dea2971827042
  c2c5eb858f32625f 786afb9edfafbdff daee0d868490b2a4 617366b3268609f6
  ae0e35a0fe46173e d1a07de93e824f11 079b8b115ea4cca8 93a99274558faebb
  fb1e6e22e08a03b3 ea635fdba3698dd0 cf53659328503a5c cde3b31e6fd5d780
  8e3e4221d3614413 ef14d0d86bf1a22c e1d830d3f16c5ddb aabd2b2a451504e1`;

const GEAR_LO = new Int32Array(256); // bits 0..15
const GEAR_HI = new Int32Array(256); // bits 16..47
GEAR_HEX.trim().split(/\s+/).forEach((h, i) => {
  GEAR_LO[i] = parseInt(h.slice(12), 16);
  GEAR_HI[i] = parseInt(h.slice(4, 12), 16) | 0;
});

const gear48 = Float64Array.from(GEAR_LO, (lo, i) => lo + (GEAR_HI[i] >>> 0) * 0x10000);
const native: NativeCdc | null = loadNativeCdc(gear48);

/** Whether cut() runs the C loop (native/cdc.c). */
export const nativeCdcActive = native !== null;

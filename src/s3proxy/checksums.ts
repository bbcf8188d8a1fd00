// The flexible-checksum algorithms S3 clients attach to uploads (x-amz-checksum-*
// headers or aws-chunked trailers). CRC32 comes from zlib; CRC32C and CRC64/NVME are
// table-driven here because Node has neither.
import { createHash, type Hash } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';

export interface Checksum {
  update(data: Uint8Array): void;
  /** Big-endian digest, base64, as S3 transmits it. */
  digestBase64(): string;
}

function crc32cTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
}

// CRC-64/NVME is reflected with polynomial 0x9a6c9329ac4bc9b5 (reversed form); the
// 64-bit register is kept as two 32-bit halves to avoid BigInt in the byte loop.
function crc64Tables(): [Uint32Array, Uint32Array] {
  const hiT = new Uint32Array(256);
  const loT = new Uint32Array(256);
  const polyHi = 0x9a6c9329;
  const polyLo = 0xac4bc9b5;
  for (let i = 0; i < 256; i++) {
    let hi = 0;
    let lo = i;
    for (let k = 0; k < 8; k++) {
      const lsb = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (lsb) { hi = (hi ^ polyHi) >>> 0; lo = (lo ^ polyLo) >>> 0; }
    }
    hiT[i] = hi;
    loT[i] = lo;
  }
  return [hiT, loT];
}

let c32c: Uint32Array | undefined;
let c64: [Uint32Array, Uint32Array] | undefined;

const be32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };

class Crc32 implements Checksum {
  private v = 0;
  update(d: Uint8Array): void { this.v = zlibCrc32(d, this.v); }
  digestBase64(): string { return be32(this.v).toString('base64'); }
}

class Crc32c implements Checksum {
  private v = 0xffffffff;
  private t = (c32c ??= crc32cTable());
  update(d: Uint8Array): void {
    let v = this.v;
    const t = this.t;
    for (let i = 0; i < d.length; i++) v = t[(v ^ d[i]!) & 0xff]! ^ (v >>> 8);
    this.v = v >>> 0;
  }
  digestBase64(): string { return be32((this.v ^ 0xffffffff) >>> 0).toString('base64'); }
}

class Crc64Nvme implements Checksum {
  private hi = 0xffffffff;
  private lo = 0xffffffff;
  private t = (c64 ??= crc64Tables());
  update(d: Uint8Array): void {
    const [hiT, loT] = this.t;
    let hi = this.hi;
    let lo = this.lo;
    for (let i = 0; i < d.length; i++) {
      const idx = (lo ^ d[i]!) & 0xff;
      lo = (((lo >>> 8) | (hi << 24)) ^ loT[idx]!) >>> 0;
      hi = ((hi >>> 8) ^ hiT[idx]!) >>> 0;
    }
    this.hi = hi;
    this.lo = lo;
  }
  digestBase64(): string {
    const b = Buffer.alloc(8);
    b.writeUInt32BE((this.hi ^ 0xffffffff) >>> 0, 0);
    b.writeUInt32BE((this.lo ^ 0xffffffff) >>> 0, 4);
    return b.toString('base64');
  }
}

class NodeHash implements Checksum {
  private h: Hash;
  constructor(alg: string) { this.h = createHash(alg); }
  update(d: Uint8Array): void { this.h.update(d); }
  digestBase64(): string { return this.h.digest('base64'); }
}

/** Algorithm names as they appear after `x-amz-checksum-`. */
export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

export function isChecksumAlgorithm(s: string): s is ChecksumAlgorithm {
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(s);
}

export function createChecksum(alg: ChecksumAlgorithm | 'md5'): Checksum {
  switch (alg) {
    case 'crc32': return new Crc32();
    case 'crc32c': return new Crc32c();
    case 'crc64nvme': return new Crc64Nvme();
    case 'sha1': return new NodeHash('sha1');
    case 'sha256': return new NodeHash('sha256');
    case 'md5': return new NodeHash('md5');
  }
}

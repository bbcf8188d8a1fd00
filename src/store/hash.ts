// BLAKE3-256 ids. The native binding is ~5x faster than WebAssembly; hash-wasm is the
// fallback where no prebuilt binary exists. tests/store/hash.test.ts checks both agree.
import { createRequire } from 'node:module';
import type { IHasher } from 'hash-wasm';

export const ID_BYTES = 32;

export interface Hasher {
  update(data: Uint8Array): Hasher;
  digest(): Buffer;
  digestHex(): string;
}

interface NativeBlake {
  blake3(input: Buffer): Buffer;
  Blake3Hasher: new () => { update(input: Buffer): unknown; reset(): void; digest(format: 'hex'): string };
}

function loadNative(): NativeBlake | null {
  if (process.env.DV_BLAKE3 === 'wasm') return null;
  try {
    return createRequire(import.meta.url)('@napi-rs/blake-hash') as NativeBlake;
  } catch {
    return null;
  }
}

const native = loadNative();
/** hash-wasm, loaded only where it is used: parsing it costs ~0.1 s of CPU in every thread
 * that imports this module (the CLI, the pack and MD5 threads). */
async function createBLAKE3(): Promise<IHasher> {
  return (await import('hash-wasm')).createBLAKE3();
}

// hash-wasm needs one async initialisation; top-level await keeps every caller synchronous.
const wasm = native ? null : await createBLAKE3();

export const blake3Implementation: 'native' | 'wasm' = native ? 'native' : 'wasm';

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Reused by blake3(). The binding's own blake3() and digestBuffer() return Buffers over
 * memory V8 does not count, so collection lags: a first add of 1,000,000 small files held
 * ~340 MB of dead digests. A hex digest is an ordinary string, and its Buffer V8's own. */
let oneShot: InstanceType<NativeBlake['Blake3Hasher']> | null = null;

export function blake3(data: Uint8Array): Buffer {
  if (native) {
    const h = (oneShot ??= new native.Blake3Hasher());
    h.reset();
    h.update(asBuffer(data));
    return Buffer.from(h.digest('hex'), 'hex');
  }
  wasm!.init();
  wasm!.update(data);
  return Buffer.from(wasm!.digest('binary'));
}

export function blake3Hex(data: Uint8Array | string): string {
  return blake3(typeof data === 'string' ? Buffer.from(data, 'utf8') : data).toString('hex');
}

export async function createHasher(): Promise<Hasher> {
  return makeHasher(native ? 'native' : 'wasm');
}

/** A streaming hasher; `impl` lets tests force one implementation. */
export async function makeHasher(impl: 'native' | 'wasm'): Promise<Hasher> {
  if (impl === 'native') {
    const n = native ?? loadNativeForced();
    const h = new n.Blake3Hasher();
    const self: Hasher = {
      update(d) { h.update(asBuffer(d)); return self; },
      digest() { return Buffer.from(h.digest('hex'), 'hex'); },
      digestHex() { return h.digest('hex'); },
    };
    return self;
  }
  const w = await createBLAKE3();
  w.init();
  const self: Hasher = {
    update(d) { w.update(d); return self; },
    digest() { return Buffer.from(w.digest('binary')); },
    digestHex() { return w.digest('hex'); },
  };
  return self;
}

function loadNativeForced(): NativeBlake {
  return createRequire(import.meta.url)('@napi-rs/blake-hash') as NativeBlake;
}

/**
 * FNV-1a over a string's UTF-16 units: a cheap, stable hash for spreading names over
 * buckets or picking split points. Stored layouts depend on it: never change it.
 */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

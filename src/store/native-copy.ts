// memcpy through the addon (native/cdc.c copyBytes) for copies out of a SharedArrayBuffer:
// V8 copies from one with relaxed atomic word moves, measured 2-8x slower than memcpy
// here, and the pack writer copies every stored chunk out of the ingest's shared read
// buffers. Without the addon (or DV_NATIVE=0), TypedArray.set does it.
import { nativeAddon } from './native-addon.js';

type CopyBytes = (dst: Buffer, dstOffset: number, src: Uint8Array, srcOffset: number, n: number) => void;

const native = nativeAddon()?.copyBytes as CopyBytes | undefined;

/** dst[at, at + src.length) = src. */
export function copyInto(dst: Buffer, at: number, src: Uint8Array): void {
  if (native && src.buffer instanceof SharedArrayBuffer && Buffer.isBuffer(src)) native(dst, at, src, 0, src.length);
  else dst.set(src, at);
}

// Pack bytes written with O_DIRECT where the filesystem takes it: from the user buffer to
// the disk, not through the page cache. `dv add` of 1 GiB spent ~1.8 s of kernel CPU
// copying into the page cache (a buffered `dd` of 1 GiB: 1.8 s of system time, with
// O_DIRECT 0.3 s), as much as all of its hashing. O_DIRECT wants the memory, the file
// offset and the length aligned: the pack thread's buffers are 4 MiB views placed on a
// 4 KiB boundary of a slightly larger ArrayBuffer (where V8 put its bytes only the
// addon can tell: pageOffset in native/cdc.c), and a pack's unaligned tail goes through
// an ordinary descriptor. Any refusal (EINVAL: a filesystem without O_DIRECT, another
// alignment) turns it off for the process; DV_DIRECT_IO=0 never turns it on.
import fs from 'node:fs';
import { nativeAddon } from './native-addon.js';

export const DIRECT_ALIGN = 4096;

let pageOffset: ((ab: ArrayBuffer) => number) | null | undefined;
let refused = process.env.DV_DIRECT_IO === '0' || typeof fs.constants.O_DIRECT !== 'number';

function offsetOf(ab: ArrayBuffer): number | null {
  if (pageOffset === undefined) {
    const f = nativeAddon()?.pageOffset;
    pageOffset = typeof f === 'function' ? (f as (ab: ArrayBuffer) => number) : null;
  }
  return pageOffset ? pageOffset(ab) : null;
}

/** A view of `len` bytes of a new ArrayBuffer that starts on a 4 KiB boundary when it can. */
export function alignedBuffer(len: number): Buffer {
  const ab = new ArrayBuffer(len + DIRECT_ALIGN);
  return Buffer.from(ab, alignPad(ab), len);
}

/** Where in `ab` its first 4 KiB-aligned byte is (0 when unknown). */
export function alignPad(ab: ArrayBuffer): number {
  const at = offsetOf(ab);
  return at === null ? 0 : (DIRECT_ALIGN - at) % DIRECT_ALIGN;
}

/** A second, O_DIRECT descriptor on `file`, or -1 (refused, or not wanted). */
export function openDirect(file: string): number {
  if (refused) return -1;
  try {
    return fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_DIRECT);
  } catch {
    refused = true;
    return -1;
  }
}

/** Writes data[0, len) at `pos`: the aligned part with `dfd` (when given and everything
 *  lines up), the rest with `fd`. Returns `dfd`, or -1 once O_DIRECT was refused. */
export function writeAt(fd: number, dfd: number, data: Uint8Array, pos: number): number {
  let off = 0;
  const at = dfd >= 0 && pos % DIRECT_ALIGN === 0 && data.buffer instanceof ArrayBuffer ? offsetOf(data.buffer) : null;
  if (at !== null && (at + data.byteOffset) % DIRECT_ALIGN === 0) {
    const aligned = data.length - (data.length % DIRECT_ALIGN);
    try {
      while (off < aligned) off += fs.writeSync(dfd, data, off, aligned - off, pos + off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      refused = true; // what is left goes through the page cache, now and from now on
      fs.closeSync(dfd);
      dfd = -1;
    }
  }
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off, pos + off);
  return dfd;
}

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
import { promisify } from 'node:util';
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

const write = promisify(fs.write);

async function writeAll(fd: number, data: Uint8Array, off: number, end: number, pos: number): Promise<number> {
  while (off < end) off += (await write(fd, data, off, end - off, pos + off)).bytesWritten;
  return off;
}

/** Writes all of `data` at `pos`: the aligned part with `dfd` (when there is one and everything
 *  lines up), the rest with `fd`. Asynchronous, so that several are in flight at once:
 *  an O_DIRECT write waits for the disk. `dfd` stays open (others may be using it) even
 *  once O_DIRECT was refused; closing both is the caller's, after every write settled. */
export async function writeAt(fd: number, dfd: number, data: Uint8Array, pos: number): Promise<void> {
  let off = 0;
  const at = !refused && dfd >= 0 && pos % DIRECT_ALIGN === 0 && data.buffer instanceof ArrayBuffer ? offsetOf(data.buffer) : null;
  if (at !== null && (at + data.byteOffset) % DIRECT_ALIGN === 0) {
    try {
      off = await writeAll(dfd, data, 0, data.length - (data.length % DIRECT_ALIGN), pos);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      refused = true; // the rest goes through the page cache, now and from now on
      off = 0;
    }
  }
  await writeAll(fd, data, off, data.length, pos);
}

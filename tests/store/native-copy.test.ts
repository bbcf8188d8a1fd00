// copyInto (src/store/native-copy.ts): the pack writer's copy out of the ingest's shared
// read buffers goes through the addon's memcpy; it must place exactly the bytes asked,
// and the addon must refuse ranges outside either buffer rather than write past them.
import { expect, it } from 'vitest';
import { copyInto } from '../../src/store/native-copy.js';
import { nativeAddon } from '../../src/store/native-addon.js';
import { alignedBuffer, alignPad } from '../../src/store/direct-io.js';

it('copies views of shared and ordinary buffers exactly, and the addon rejects bad ranges', () => {
  const addon = nativeAddon() as { copyBytes?: (...a: unknown[]) => void; pageOffset?: (ab: ArrayBuffer) => number } | null;
  expect(typeof addon?.copyBytes, 'npm ci builds the native addon').toBe('function');
  const shared = Buffer.from(new SharedArrayBuffer(1 << 16));
  for (let i = 0; i < shared.length; i++) shared[i] = (i * 31 + 7) & 0xff;
  const plain = Buffer.from(shared);
  for (const src of [shared, plain]) {
    const dst = Buffer.alloc(1000, 0xee);
    copyInto(dst, 100, src.subarray(777, 1377));
    expect(dst.subarray(100, 700).equals(src.subarray(777, 1377))).toBe(true);
    expect([dst[99], dst[700]]).toEqual([0xee, 0xee]);
  }
  const dst = Buffer.alloc(64);
  expect(() => addon!.copyBytes!(dst, 60, shared, 0, 8)).toThrow(/bad range/);
  expect(() => addon!.copyBytes!(dst, 0, shared.subarray(0, 4), 0, 8)).toThrow(/bad range/);
  expect(() => addon!.copyBytes!(dst, -1, shared, 0, 1)).toThrow(/bad range/);
  // The pack thread's buffers start on a 4 KiB boundary (what O_DIRECT needs).
  const b = alignedBuffer(1 << 20);
  expect(b.length).toBe(1 << 20);
  expect((addon!.pageOffset!(b.buffer as ArrayBuffer) + b.byteOffset) % 4096).toBe(0);
  expect(alignPad(b.buffer as ArrayBuffer)).toBe(b.byteOffset);
});

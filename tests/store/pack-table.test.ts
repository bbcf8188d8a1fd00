// The open pack's compact table (src/store/pack-table.ts): lookups by id across rehashes
// and ids that share their first bytes, entries read back exactly (in order and in id
// order, as they are indexed), and the table bytes it
// seals identical to the reference encoding of the same entries (packfile.ts encodeTable).
import crypto from 'node:crypto';
import { expect, it } from 'vitest';
import { BlobType, encodeTable, tableWithFooter, type PackEntry } from '../../src/store/packfile.js';
import { PackTable } from '../../src/store/pack-table.js';

it('finds every id it holds and no other, and seals the same table bytes as encodeTable', () => {
  const t = new PackTable();
  const entries: PackEntry[] = [];
  let offset = 8;
  for (let i = 0; i < 2000; i++) {
    const id = crypto.randomBytes(32);
    if (i % 7 === 0) id.writeUInt32LE(0x12345678, 0); // same hash slot: probing must compare whole ids
    const length = (i * 7919) % 100_000;
    const type = i % 3 === 0 ? BlobType.Tree : BlobType.Chunk;
    t.add(type, id, offset, length);
    entries.push({ type, id, offset, length });
    offset += length;
  }
  offset = 2 ** 33 + 5; // past 4 GiB: offsets are 64-bit in the table
  const far = { type: BlobType.Chunk, id: crypto.randomBytes(32), offset, length: 3 };
  t.add(far.type, far.id, far.offset, far.length);
  entries.push(far);

  expect(t.length).toBe(entries.length);
  for (const [i, e] of entries.entries()) {
    expect(t.find(e.id)).toBe(i);
    expect(t.get(e.id)).toEqual(e);
  }
  const other = Buffer.from(entries[7]!.id);
  other[31] ^= 1;
  expect(t.has(other)).toBe(false);
  expect(t.has(crypto.randomBytes(32))).toBe(false);
  expect([...t]).toEqual(entries);
  expect([...t.byId()]).toEqual([...entries].sort((a, b) => a.id.compare(b.id)));
  expect(tableWithFooter(t.bytes()).equals(encodeTable(entries))).toBe(true);
  expect(tableWithFooter(new PackTable().bytes()).equals(encodeTable([]))).toBe(true);
});

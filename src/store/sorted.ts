// Binary search, the one used over sorted paths, keys and entries everywhere.

/** The first index in [lo, hi) at which `before(i)` is false; `before` must be true on a prefix only. */
export function partitionPoint(lo: number, hi: number, before: (i: number) => boolean): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index from `lo` of sorted `a` whose element is >= `x`. */
export function lowerBound(a: readonly string[], x: string, lo = 0): number {
  return partitionPoint(lo, a.length, (i) => a[i]! < x);
}

/**
 * 0..n-1 in the byte order of 32-byte ids, the i-th at `offset(i)` of `bytes(i)` (a
 * pack's index rows and MD5 records go into SQLite in key order, each B-tree page
 * touched once). Ids are random: their first 6 bytes, read as a number, decide nearly
 * every comparison, and only equal prefixes are compared in full.
 */
export function idOrder(n: number, bytes: (i: number) => Buffer, offset: (i: number) => number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const keys = Float64Array.from(order, (i) => bytes(i).readUIntBE(offset(i), 6));
  // compare() is source (a) vs target (b)
  return order.sort((a, b) => keys[a]! - keys[b]! || bytes(a).compare(bytes(b), offset(b), offset(b) + 32, offset(a), offset(a) + 32));
}

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

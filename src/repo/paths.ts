// Tracked-path arithmetic shared by commits, status, checkout and pipelines.

/** Whether project-relative path `p` is `root` or lies below it ('' is the project). */
export function isUnder(p: string, root: string): boolean {
  return root === '' || p === root || p.startsWith(root + '/');
}

/** Drops paths already covered by another one (`data` covers `data/a.csv`). */
export function normalizeTracked(paths: string[]): string[] {
  const sorted = [...new Set(paths)].sort();
  // Sorted, a covering path comes right before what it covers (`data` < `data/x` < `data0`).
  const out: string[] = [];
  for (const p of sorted) if (!out.length || !isUnder(p, out[out.length - 1])) out.push(p);
  return out;
}

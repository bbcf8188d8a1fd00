// Plain text tables for the metrics, params and experiments commands: columns padded
// to their widest cell, two spaces apart, no trailing blanks.
export type Cell = string | number | boolean | null | undefined;

export function cell(v: Cell): string {
  if (v === null || v === undefined) return '-';
  return String(v);
}

export function table(head: string[], rows: Cell[][]): string {
  const text = [head, ...rows.map((r) => r.map(cell))];
  const widths = head.map((_, i) => Math.max(...text.map((r) => (r[i] ?? '').length)));
  return text.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

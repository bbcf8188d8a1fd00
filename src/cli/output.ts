// Terminal output: JSON documents, human lines, and progress on a TTY only.
export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function println(line = ''): void {
  process.stdout.write(line + '\n');
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

export interface ProgressEvent {
  phase: string;
  files?: number;
  totalFiles?: number;
  bytes?: number;
  totalBytes?: number;
  /** What files/totalFiles count (default 'files'; transfers count 'packs'). */
  unit?: string;
}

/** A single self-overwriting stderr line, at most 10 updates a second; silent unless
 * stderr is a terminal and --quiet was not given. */
export class ProgressLine {
  private last = 0;
  private start = Date.now();
  private shown = false;
  readonly enabled: boolean;

  constructor(quiet = false) {
    this.enabled = !quiet && !!process.stderr.isTTY && !process.env.CI;
  }

  update = (e: ProgressEvent): void => {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    const secs = Math.max((now - this.start) / 1000, 0.001);
    const parts = [e.phase];
    if (e.totalFiles !== undefined) parts.push(`${e.files ?? 0}/${e.totalFiles} ${e.unit ?? 'files'}`);
    if (e.bytes !== undefined) {
      parts.push(e.totalBytes ? `${humanBytes(e.bytes)} / ${humanBytes(e.totalBytes)}` : humanBytes(e.bytes));
      parts.push(`${humanBytes(e.bytes / secs)}/s`);
    }
    process.stderr.write(`\r\x1b[K${parts.join(', ')}`);
    this.shown = true;
  };

  done(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

const C_ESCAPES: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\t': '\\t', '\n': '\\n', '\v': '\\v', '\f': '\\f', '\r': '\\r', '"': '\\"', '\\': '\\\\' };

/** A path as git prints it (core.quotePath=false): as is, unless it holds a control
 * character, `"` or `\`; then in double quotes with C escapes (octal for the rest), so
 * a name with a newline stays on one line and cannot fake another entry. */
export function quotePath(p: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\x00-\x1f\x7f"\\]/.test(p)) return p;
  // eslint-disable-next-line no-control-regex
  return `"${p.replace(/[\x00-\x1f\x7f"\\]/g, (c) => C_ESCAPES[c] ?? `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`)}"`;
}

// Option value parsers for every command. They throw commander's InvalidArgumentError,
// so a bad value is a one-line usage error (exit 2), never an internal error.
import { InvalidArgumentError } from 'commander';

/** An integer option within [min, max]. */
export function intArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}, got '${v}'`);
    }
    return n;
  };
}

/** `512MiB`, `1GiB`, `1.5G`, `64K`, `100000` (bytes); binary units. */
export function sizeArg(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`not a size: '${v}' (e.g. 512MiB, 1GiB)`);
  const mult = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[(m[2] ?? 'b').toLowerCase()[0] as 'b']!;
  return Math.floor(Number(m[1]) * mult);
}

/** `90s`, `30m`, `1h`, `2d`, `1w`, `500ms`; a bare number is seconds. Milliseconds out. */
export function durationArg(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`not a duration: '${v}' (e.g. 30m, 1h, 2d)`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 604_800_000 }[(m[2] ?? 's') as 's'];
}

/** A repeatable option: every value, in order. */
export function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

export const jobsArg = intArg(1, 256);

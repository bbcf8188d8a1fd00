// Project-relative path helpers shared by config validation, the graph and the planner.
import picomatch from 'picomatch';

import { isUnder } from '../repo/paths.js';

export { isUnder };

/** One path contains the other (or they are equal). */
export function overlaps(a: string, b: string): boolean {
  return isUnder(a, b) || isUnder(b, a);
}

/**
 * Normalises a user path to `a/b/c` form. Returns an error phrase instead when
 * the path leaves the project, is absolute or points into `.dv/`.
 */
export function normalizePath(p: string): { path: string; dir: boolean } | { error: string } {
  if (p.trim() === '') return { error: 'expected a non-empty path' };
  if (p.includes('\\')) return { error: `${p}: use '/' as the path separator` };
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return { error: `${p}: expected a path relative to the project root` };
  const dir = p.endsWith('/');
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) return { error: `${p}: '..' is not allowed (paths stay inside the project)` };
  if (parts.length === 0) return { error: `${p}: expected a path below the project root` };
  if (parts[0] === '.dv') return { error: `${p}: paths under .dv/ belong to dv` };
  return { path: parts.join('/'), dir };
}

const pmCache = new Map<string, (s: string) => boolean>();

export function matcher(glob: string): (s: string) => boolean {
  let m = pmCache.get(glob);
  if (!m) {
    m = picomatch(glob, { dot: false });
    pmCache.set(glob, m);
  }
  return m;
}

/** Checks a `foreach` glob and returns its static directory part. */
export function parseGlob(glob: string): { base: string; isGlob: boolean } | { error: string } {
  const n = normalizePath(glob);
  if ('error' in n) return n;
  if (glob.startsWith('!')) return { error: `${glob}: negated globs are not supported` };
  const pairs: [string, string][] = [['[', ']'], ['{', '}'], ['(', ')']];
  for (const [open, close] of pairs) {
    let depth = 0;
    for (const ch of glob) {
      if (ch === open) depth++;
      else if (ch === close && --depth < 0) break;
    }
    if (depth !== 0) return { error: `${glob}: unbalanced '${open}${close}'` };
  }
  try {
    picomatch.makeRe(n.path);
  } catch (e) {
    return { error: `${glob}: ${(e as Error).message}` };
  }
  const scan = picomatch.scan(n.path);
  if (!scan.isGlob) {
    const i = n.path.lastIndexOf('/');
    return { base: i < 0 ? '' : n.path.slice(0, i), isGlob: false };
  }
  return { base: scan.base, isGlob: true };
}

/** Whether a file at `path`, or any file under directory `path`, could match `glob`. */
export function globMayMatch(glob: string, path: string): boolean {
  if (matcher(glob)(path)) return true;
  const gs = glob.split('/');
  const ps = path.split('/');
  for (let i = 0; i < ps.length; i++) {
    const g = gs[i];
    if (g === undefined) return false;
    if (g === '**') return true;
    if (!matcher(g)(ps[i]!)) return false;
  }
  return gs.length > ps.length;
}

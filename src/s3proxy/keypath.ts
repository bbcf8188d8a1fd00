// S3 keys onto tree paths, reversibly. S3 allows empty path segments (`a//b`, `/a`),
// a file system does not: nothing can be named "". So each segment is escaped: the
// empty name is stored as `%`, and a name made only of `%` characters gets one `%`
// more (`%` -> `%%`), so that every key round-trips and no escaped name collides with
// a real one. Every other key is its own path, byte for byte, so trees written before
// keep their ids and `dv add`'s files keep their keys.
//
// Paths here are the part of a key after its ref; a trailing `/` marks a directory
// marker on both sides (not a segment: the marker of `a/` is the directory `a`).

const ESC = '%';
const ALL_ESC = /^%+$/;

/** A name as stored in a tree, from its key segment. */
export function escapeSeg(seg: string): string {
  return seg === '' || ALL_ESC.test(seg) ? seg + ESC : seg;
}

/** A key segment from a name as stored in a tree. */
export function unescapeSeg(name: string): string {
  return name.charCodeAt(0) === 37 && ALL_ESC.test(name) ? name.slice(1) : name;
}

/** Whether a stored name reads as another key segment than itself. */
export const isEscaped = (name: string): boolean => name.charCodeAt(0) === 37 && ALL_ESC.test(name);

/** The tree path of a key path (identity unless it has an empty or all-`%` segment). */
export function keyToPath(key: string): string {
  if (!(key.startsWith('/') || key.includes('//') || key.includes(ESC))) return key;
  return mapSegs(key, escapeSeg);
}

/** The key path of a tree path. */
export function pathToKey(p: string): string {
  return p.includes(ESC) ? mapSegs(p, unescapeSeg) : p;
}

function mapSegs(p: string, f: (s: string) => string): string {
  const marker = p.endsWith('/');
  return (marker ? p.slice(0, -1) : p).split('/').map(f).join('/') + (marker ? '/' : '');
}

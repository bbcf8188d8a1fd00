// S3's key order: UTF-8 bytes, which is code point order. JS `<` compares UTF-16
// code units and differs only where a character outside the BMP (a surrogate pair)
// meets one in U+E000..U+FFFF, so that case alone takes the slow path.

/** Compares two keys in S3 order (negative, zero, positive). */
export function cmpKey(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length - b.length;
  const x = a.charCodeAt(i);
  const y = b.charCodeAt(i);
  if ((x >= 0xd800 && x <= 0xdfff) || (y >= 0xd800 && y <= 0xdfff)) {
    return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  }
  return x - y;
}

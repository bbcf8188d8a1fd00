// HTTP details of object reads as S3 applies them: Range, conditional headers,
// Content-Type by extension (ETags: etag.ts).
import { extname } from 'node:path';
import { s3err } from './errors.js';

export type RangeResult =
  | { kind: 'none' }
  | { kind: 'range'; start: number; end: number } // end exclusive
  | { kind: 'unsatisfiable' };

/**
 * Parse a Range header against an object size. Like S3: one `bytes=` range is served
 * (206); a header that is malformed, uses another unit, or lists several ranges is
 * ignored (the whole object, 200); a range starting at or past the end, or a zero
 * suffix, is unsatisfiable (416).
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'none' };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return { kind: 'none' };
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return { kind: 'none' };
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - n), end: size };
  }
  const start = Number(a);
  if (b !== '' && Number(b) < start) return { kind: 'none' };
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = b === '' ? size : Math.min(Number(b) + 1, size);
  return { kind: 'range', start, end };
}

export function contentRange(start: number, end: number, size: number): string {
  return `bytes ${start}-${end - 1}/${size}`;
}

function etagList(header: string): string[] {
  return header.split(',').map((t) => t.trim()).filter((t) => t !== '');
}

/** Compare ignoring quotes and a weak prefix: clients send both `"x"` and bare `x`. */
function sameTag(candidate: string, etag: string): boolean {
  const norm = (t: string): string => t.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
  return candidate === '*' || norm(candidate) === norm(etag);
}

function httpDate(header: string | undefined): number | null {
  if (header === undefined) return null;
  const t = Date.parse(header);
  return Number.isNaN(t) ? null : Math.floor(t / 1000);
}

export type ConditionResult = 'ok' | 'not-modified' | 'precondition-failed';

export interface Conditions {
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  ifUnmodifiedSince?: string;
}

/**
 * S3's precedence: If-Match decides alone when present (If-Unmodified-Since is then
 * ignored); If-None-Match decides alone when present (If-Modified-Since is then
 * ignored). A failing If-None-Match or If-Modified-Since is 304 for GET/HEAD and 412
 * for a copy source (method 'COPY').
 */
export function evaluateConditions(c: Conditions, etag: string, lastModified: Date, method: string, now = Date.now()): ConditionResult {
  const lm = Math.floor(lastModified.getTime() / 1000);
  if (c.ifMatch !== undefined) {
    if (!etagList(c.ifMatch).some((t) => sameTag(t, etag))) return 'precondition-failed';
  } else {
    const since = httpDate(c.ifUnmodifiedSince);
    if (since !== null && lm > since) return 'precondition-failed';
  }
  // Reads answer "not modified" with 304; copies (x-amz-copy-source-if-*) and writes fail with 412.
  const readish = method === 'GET' || method === 'HEAD';
  const unchanged: ConditionResult = readish ? 'not-modified' : 'precondition-failed';
  if (c.ifNoneMatch !== undefined) {
    if (etagList(c.ifNoneMatch).some((t) => sameTag(t, etag))) return unchanged;
  } else if (readish || method === 'COPY') {
    const since = httpDate(c.ifModifiedSince);
    // A date in the future is invalid per RFC 9110 and ignored.
    if (since !== null && since <= Math.floor(now / 1000) && lm <= since) return unchanged;
  }
  return 'ok';
}

/** Throw the S3 error for a failed condition (304 carries no body). */
export function enforceConditions(c: Conditions, etag: string, lastModified: Date, method: string): void {
  const r = evaluateConditions(c, etag, lastModified, method);
  if (r === 'precondition-failed') throw s3err('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.');
  if (r === 'not-modified') throw s3err('NotModified', 'Not Modified');
}

const TYPES: Record<string, string> = {
  '.avro': 'application/avro',
  '.bin': 'application/octet-stream',
  '.bz2': 'application/x-bzip2',
  '.csv': 'text/csv',
  '.feather': 'application/vnd.apache.arrow.file',
  '.arrow': 'application/vnd.apache.arrow.file',
  '.gif': 'image/gif',
  '.gz': 'application/gzip',
  '.h5': 'application/x-hdf5',
  '.html': 'text/html',
  '.ipynb': 'application/x-ipynb+json',
  '.jpeg': 'image/jpeg',
  '.jpg': 'image/jpeg',
  '.json': 'application/json',
  '.jsonl': 'application/jsonl',
  '.md': 'text/markdown',
  '.ndjson': 'application/x-ndjson',
  '.npy': 'application/octet-stream',
  '.orc': 'application/octet-stream',
  '.parquet': 'application/vnd.apache.parquet',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.tar': 'application/x-tar',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.tsv': 'text/tab-separated-values',
  '.txt': 'text/plain',
  '.wav': 'audio/wav',
  '.webp': 'image/webp',
  '.xml': 'application/xml',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.zip': 'application/zip',
  '.zst': 'application/zstd',
};

export function contentTypeFor(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

export function httpDateString(d: Date): string {
  return d.toUTCString();
}

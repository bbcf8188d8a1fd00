// What a client said about an object beyond its bytes: Content-Type and user metadata
// (`x-amz-meta-*`). Kept in the file's tree entry (S3Meta.type / .meta), so a clone
// serving the same version answers the same headers, and outside the content hash:
// the same bytes stored by `dv add` are the same file. A Content-Type equal to what the
// key's extension gives is not stored (the entry stays as `dv add` would write it).
import { s3err } from './errors.js';
import { contentTypeFor } from './http-util.js';
import { type Ctx } from './request.js';
import type { S3Meta } from '../repo/types.js';

/** S3's limit on user metadata (names and values, as sent). */
const MAX_META_BYTES = 2048;

export type ObjectMeta = Pick<S3Meta, 'type' | 'meta'>;

/** Content-Type and x-amz-meta-* of a write request, for the object at key path `path`. */
export function requestMeta(ctx: Ctx, path: string): ObjectMeta {
  const out: ObjectMeta = {};
  const type = ctx.req.headers['content-type'];
  if (typeof type === 'string' && type !== '' && type !== contentTypeFor(path)) out.type = type;
  const meta: Record<string, string> = {};
  let bytes = 0;
  for (const [name, v] of Object.entries(ctx.req.headers)) {
    if (!name.startsWith('x-amz-meta-') || v === undefined) continue;
    const value = Array.isArray(v) ? v.join(',') : v;
    const short = name.slice('x-amz-meta-'.length);
    bytes += Buffer.byteLength(short) + Buffer.byteLength(value);
    meta[short] = value;
  }
  if (bytes > MAX_META_BYTES) throw s3err('MetadataTooLarge', `Your metadata headers exceed the maximum allowed metadata size (${MAX_META_BYTES} bytes).`);
  const names = Object.keys(meta).sort();
  if (names.length) out.meta = Object.fromEntries(names.map((n) => [n, meta[n]!]));
  return out;
}

/** `s3` with the object metadata replaced by `m`; undefined when nothing is left. */
export function withMeta(s3: S3Meta | undefined, m: ObjectMeta): S3Meta | undefined {
  const { type: _t, meta: _m, ...rest } = s3 ?? {};
  const out: S3Meta = { ...rest, ...(m.type !== undefined ? { type: m.type } : {}), ...(m.meta ? { meta: m.meta } : {}) };
  return Object.keys(out).length ? out : undefined;
}

/** The metadata a copy from `srcPath` to `dstPath` keeps: the Content-Type the source was served with. */
export function copiedMeta(s3: S3Meta | undefined, srcPath: string, dstPath: string): ObjectMeta {
  const type = s3?.type ?? contentTypeFor(srcPath);
  return { ...(type !== contentTypeFor(dstPath) ? { type } : {}), ...(s3?.meta ? { meta: s3.meta } : {}) };
}

/** The response headers that describe an object: Content-Type and its user metadata. */
export function metaHeaders(s3: S3Meta | undefined, path: string): Record<string, string> {
  const out: Record<string, string> = { 'content-type': s3?.type ?? contentTypeFor(path) };
  for (const [n, v] of Object.entries(s3?.meta ?? {})) out[`x-amz-meta-${n}`] = v;
  return out;
}

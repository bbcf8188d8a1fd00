// Multipart uploads. Parts are streamed into the chunk store as they arrive (never
// buffered); the in-flight bookkeeping (which stored file is which part) lives in
// memory only, so restarting `dv serve` forgets unfinished uploads: clients get
// NoSuchUpload and start over, which every S3 client handles. Their stored chunks
// are unreferenced and go away with `dv gc`.
import { randomBytes } from 'node:crypto';
import { checksumHeaders, storeBody, type VerifiedChecksum } from '../body.js';
import { createChecksum, isChecksumAlgorithm, type ChecksumAlgorithm } from '../checksums.js';
import { s3err } from '../errors.js';
import { multipartEtag, quoteEtag, unquoteEtag } from '../etag.js';
import { parseRange } from '../http-util.js';
import { parseMax } from '../listing.js';
import { type Ctx, header, requireWrite, sendEmpty, sendXml } from '../request.js';
import * as xml from '../xml.js';
import { requestMeta, withMeta, type ObjectMeta } from '../object-meta.js';
import { commitMessage, commitWrite, copySourceEntry, refuseEncryption, writeTarget } from './write.js';
import type { IngestedFile } from '../../repo/types.js';

interface Part {
  stored: IngestedFile;
  etag: string;
  lastModified: Date;
  checksum?: VerifiedChecksum;
}

/** What a completed upload answered, so that a retried CompleteMultipartUpload gets it again. */
interface Completed {
  bucket: string;
  key: string;
  /** The part list the client sent, as `n:etag,...`. */
  parts: string;
  etag: string;
  commit: string;
  /** The composite checksum (`alg:base64-N`), when every part had one. */
  checksum?: string;
  at: number;
}

interface Upload {
  id: string;
  bucket: string;
  key: string;
  branch: string;
  path: string;
  initiated: Date;
  touched: number;
  parts: Map<number, Part>;
  completing: boolean;
  /** x-amz-checksum-algorithm given at CreateMultipartUpload. */
  checksumAlgorithm?: ChecksumAlgorithm;
  /** Content-Type and x-amz-meta-* given at CreateMultipartUpload. */
  meta?: ObjectMeta;
}

const DEFAULT_TTL_MS = 24 * 3600 * 1000;
export const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PART_NUMBER = 10_000;

export class Uploads {
  private readonly map = new Map<string, Upload>();
  private readonly completed = new Map<string, Completed>();

  constructor(private readonly ttlMs = DEFAULT_TTL_MS) {}

  add(u: Omit<Upload, 'id' | 'touched' | 'parts' | 'completing'>, now: number): Upload {
    this.sweep(now);
    const up: Upload = { ...u, id: randomBytes(24).toString('base64url'), touched: now, parts: new Map(), completing: false };
    this.map.set(up.id, up);
    return up;
  }

  get(ctx: Ctx): Upload {
    const id = ctx.query.get('uploadId') ?? '';
    const up = this.map.get(id);
    if (!up || up.bucket !== ctx.bucket || up.key !== ctx.key) {
      throw s3err('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: id });
    }
    up.touched = Date.now();
    return up;
  }

  has(up: Upload): boolean {
    return this.map.get(up.id) === up;
  }

  delete(up: Upload): void {
    this.map.delete(up.id);
  }

  /** Remember what completing `up` answered (kept as long as an idle upload would be). */
  complete(up: Upload, c: Omit<Completed, 'at'>): void {
    this.map.delete(up.id);
    this.completed.set(up.id, { ...c, at: Date.now() });
  }

  /** The answer of an upload completed before with exactly this part list, if any. */
  completedAs(ctx: Ctx, parts: string): Completed | undefined {
    const c = this.completed.get(ctx.query.get('uploadId') ?? '');
    return c && c.bucket === ctx.bucket && c.key === ctx.key && c.parts === parts ? c : undefined;
  }

  list(bucket: string): Upload[] {
    return [...this.map.values()].filter((u) => u.bucket === bucket);
  }

  private sweep(now: number): void {
    for (const [id, u] of this.map) if (now - u.touched > this.ttlMs) this.map.delete(id);
    for (const [id, c] of this.completed) if (now - c.at > this.ttlMs) this.completed.delete(id);
  }
}

export async function createUpload(ctx: Ctx, uploads: Uploads): Promise<void> {
  refuseEncryption(ctx);
  const loc = await writeTarget(ctx, ctx.bucket!, ctx.key);
  const alg = header(ctx, 'x-amz-checksum-algorithm')?.toLowerCase();
  if (alg !== undefined && !isChecksumAlgorithm(alg)) {
    throw s3err('InvalidRequest', `Checksum algorithm ${alg} is not supported.`);
  }
  const up = uploads.add({ bucket: ctx.bucket!, key: ctx.key, branch: loc.ref, path: loc.path, initiated: new Date(), checksumAlgorithm: alg, meta: requestMeta(ctx, loc.path) }, Date.now());
  sendXml(ctx, 200, xml.initiateMultipartUpload(ctx.bucket!, ctx.key, up.id),
    alg ? { 'x-amz-checksum-algorithm': alg.toUpperCase(), 'x-amz-checksum-type': 'COMPOSITE' } : {});
}

function partNumber(ctx: Ctx): number {
  const v = ctx.query.get('partNumber') ?? '';
  const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX_PART_NUMBER)) {
    throw s3err('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, { ArgumentName: 'partNumber', ArgumentValue: v });
  }
  return n;
}

/** Permission is re-checked on every part: a key revoked mid-upload stops there. */
function authorise(ctx: Ctx, up: Upload): void {
  requireWrite(ctx, up.branch, 'branch');
}

export async function uploadPart(ctx: Ctx, uploads: Uploads): Promise<void> {
  const n = partNumber(ctx);
  const up = uploads.get(ctx);
  authorise(ctx, up);
  refuseEncryption(ctx);
  let stored: IngestedFile;
  let checksum: VerifiedChecksum | undefined;
  const copy = header(ctx, 'x-amz-copy-source') !== undefined;
  if (copy) {
    const src = await copySourceEntry(ctx);
    const rangeHeader = header(ctx, 'x-amz-copy-source-range');
    let [start, end] = [0, src.entry.size];
    if (rangeHeader !== undefined) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader);
      if (m && (Number(m[1]) >= src.entry.size || Number(m[2]) >= src.entry.size)) {
        throw s3err('InvalidRange', `The x-amz-copy-source-range ${rangeHeader} goes past the end of the source (${src.entry.size} bytes).`);
      }
      const r = m ? parseRange(rangeHeader, src.entry.size) : { kind: 'none' as const };
      if (r.kind !== 'range' || r.end !== Number(rangeHeader.split('-')[1]) + 1) {
        throw s3err('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy', { ArgumentName: 'x-amz-copy-source-range' });
      }
      [start, end] = [r.start, r.end];
    }
    stored = await ctx.backend.storeStream(ctx.bucket!, ctx.backend.open(src.bucket, src.entry, start, end));
  } else {
    const body = await storeBody(ctx, ctx.bucket!);
    ({ checksum } = body);
    stored = body;
  }
  if (!uploads.has(up) || up.completing) throw s3err('NoSuchUpload', 'The upload was completed or aborted while this part was being sent.', { UploadId: up.id });
  const part: Part = { stored, etag: quoteEtag(stored.md5), lastModified: new Date(), checksum };
  up.parts.set(n, part);
  if (copy) sendXml(ctx, 200, xml.copyObjectResult(part.etag, part.lastModified, true));
  else sendEmpty(ctx, 200, { etag: part.etag, ...checksumHeaders(checksum) });
}

const unquote = unquoteEtag;

/** S3's composite checksum: the checksum of the parts' binary checksums, `-N`; when every part has one. */
function compositeChecksum(up: Upload, parts: Part[]): string | undefined {
  const alg = up.checksumAlgorithm ?? parts[0]?.checksum?.alg;
  if (!alg || !parts.every((p) => p.checksum?.alg === alg)) return undefined;
  const sum = createChecksum(alg);
  for (const p of parts) sum.update(Buffer.from(p.checksum!.value, 'base64'));
  return `${alg}:${sum.digestBase64()}-${parts.length}`;
}

function sendCompleted(ctx: Ctx, etag: string, commit: string, checksum?: string): void {
  const host = header(ctx, 'host') ?? '127.0.0.1';
  const location = `http://${host}/${encodeURIComponent(ctx.bucket!)}/${ctx.key.split('/').map(encodeURIComponent).join('/')}`;
  sendXml(ctx, 200, xml.completeMultipartUpload(location, ctx.bucket!, ctx.key, etag, checksum), { 'x-dv-commit': commit });
}

export async function completeUpload(ctx: Ctx, uploads: Uploads, readXml: () => Promise<string>, minPartSize: number): Promise<void> {
  let up: Upload;
  try {
    up = uploads.get(ctx);
  } catch (e) {
    // Sent again after it succeeded (the first answer was lost): S3 answers 200 again.
    const requested = xml.parseCompleteMultipartUpload(await readXml());
    const done = uploads.completedAs(ctx, requested.map((r) => `${r.partNumber}:${unquote(r.etag)}`).join(','));
    if (!done) throw e;
    await writeTarget(ctx, ctx.bucket!, ctx.key); // permission, as for the first attempt
    return sendCompleted(ctx, done.etag, done.commit, done.checksum);
  }
  authorise(ctx, up);
  const requested = xml.parseCompleteMultipartUpload(await readXml());
  if (up.completing) throw s3err('NoSuchUpload', 'This upload is already being completed.', { UploadId: up.id });
  let prev = 0;
  for (const r of requested) {
    if (r.partNumber <= prev) throw s3err('InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.');
    prev = r.partNumber;
  }
  const parts = requested.map((r) => {
    const have = up.parts.get(r.partNumber);
    if (!have || unquote(have.etag) !== unquote(r.etag)) {
      throw s3err('InvalidPart', 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.', { PartNumber: String(r.partNumber), ETag: r.etag });
    }
    return { n: r.partNumber, stored: have.stored, part: have };
  });
  parts.slice(0, -1).forEach(({ n, stored }) => {
    if (stored.size < minPartSize) {
      throw s3err('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', {
        PartNumber: String(n), ProposedSize: String(stored.size), MinSizeAllowed: String(minPartSize),
      });
    }
  });
  up.completing = true;
  try {
    const whole = parts.length === 1 ? parts[0]!.stored : await ctx.backend.concat(ctx.bucket!, parts.map((x) => x.stored));
    const etag = multipartEtag(parts.map((x) => x.stored.md5));
    const checksum = compositeChecksum(up, parts.map((x) => x.part));
    const s3 = withMeta({ etag, parts: parts.map((x) => x.stored.size), ...(checksum ? { checksum } : {}) }, up.meta ?? {});
    const change = { size: whole.size, hash: whole.hash, chunks: whole.chunks, s3 };
    const result = await commitWrite(ctx, ctx.bucket!, up.branch, new Map([[up.path, change]]), commitMessage(ctx, 'CompleteMultipartUpload', up.path));
    uploads.complete(up, { bucket: ctx.bucket!, key: ctx.key, parts: requested.map((r) => `${r.partNumber}:${unquote(r.etag)}`).join(','), etag: quoteEtag(etag), commit: result.commit, checksum });
    sendCompleted(ctx, quoteEtag(etag), result.commit, checksum);
  } catch (e) {
    up.completing = false; // let the client retry
    throw e;
  }
}

export function abortUpload(ctx: Ctx, uploads: Uploads): void {
  const up = uploads.get(ctx);
  authorise(ctx, up);
  uploads.delete(up);
  sendEmpty(ctx, 204);
}

export function listParts(ctx: Ctx, uploads: Uploads): void {
  const up = uploads.get(ctx);
  authorise(ctx, up);
  const maxParts = parseMax(ctx.query.get('max-parts'), 'max-parts');
  const markerStr = ctx.query.get('part-number-marker') ?? '0';
  if (!/^\d{1,5}$/.test(markerStr)) throw s3err('InvalidArgument', 'Invalid part-number-marker', { ArgumentName: 'part-number-marker' });
  const marker = Number(markerStr);
  const all = [...up.parts.entries()].filter(([n]) => n > marker).sort((a, b) => a[0] - b[0]);
  const page = all.slice(0, maxParts);
  const isTruncated = all.length > page.length;
  sendXml(ctx, 200, xml.listParts({
    bucket: up.bucket, key: up.key, uploadId: up.id, marker, maxParts, isTruncated,
    nextMarker: page.length > 0 ? page[page.length - 1]![0] : undefined,
    parts: page.map(([n, p]) => ({ partNumber: n, etag: p.etag, size: p.stored.size, lastModified: p.lastModified })),
  }));
}

export function listUploads(ctx: Ctx, uploads: Uploads): void {
  const prefix = ctx.query.get('prefix') ?? '';
  const maxUploads = parseMax(ctx.query.get('max-uploads'), 'max-uploads');
  const visible = uploads.list(ctx.bucket!)
    .filter((u) => u.key.startsWith(prefix))
    .filter((u) => {
      try {
        requireWrite(ctx, u.branch, 'branch');
        return true;
      } catch {
        return false;
      }
    })
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated.getTime() - b.initiated.getTime()));
  const page = visible.slice(0, maxUploads);
  sendXml(ctx, 200, xml.listMultipartUploads({
    bucket: ctx.bucket!, prefix, maxUploads, isTruncated: visible.length > page.length,
    uploads: page.map((u) => ({ key: u.key, uploadId: u.id, initiated: u.initiated })),
  }));
}

// Multipart uploads. Parts are streamed into the chunk store as they arrive (never
// buffered); the in-flight bookkeeping (which stored file is which part) lives in
// memory only, so restarting `dv serve` forgets unfinished uploads: clients get
// NoSuchUpload and start over, which every S3 client handles. Their stored chunks
// are unreferenced and go away with `dv gc`.
import { randomBytes } from 'node:crypto';
import { storeBody } from '../body.js';
import { s3err } from '../errors.js';
import { etagFor, parseRange } from '../http-util.js';
import { parseMax } from '../listing.js';
import { type Ctx, header, requireWrite, sendEmpty, sendXml } from '../request.js';
import * as xml from '../xml.js';
import { commitMessage, copySourceEntry, writeTarget } from './write.js';
import type { StoredFile } from '../../repo/types.js';

interface Part {
  stored: StoredFile;
  etag: string;
  lastModified: Date;
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
}

const DEFAULT_TTL_MS = 24 * 3600 * 1000;
export const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PART_NUMBER = 10_000;

export class Uploads {
  private readonly map = new Map<string, Upload>();

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

  list(bucket: string): Upload[] {
    return [...this.map.values()].filter((u) => u.bucket === bucket);
  }

  private sweep(now: number): void {
    for (const [id, u] of this.map) if (now - u.touched > this.ttlMs) this.map.delete(id);
  }
}

export async function createUpload(ctx: Ctx, uploads: Uploads): Promise<void> {
  const loc = await writeTarget(ctx, ctx.bucket!, ctx.key);
  const up = uploads.add({ bucket: ctx.bucket!, key: ctx.key, branch: loc.ref, path: loc.path, initiated: new Date() }, Date.now());
  sendXml(ctx, 200, xml.initiateMultipartUpload(ctx.bucket!, ctx.key, up.id));
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
  let stored: StoredFile;
  const copy = header(ctx, 'x-amz-copy-source') !== undefined;
  if (copy) {
    const src = await copySourceEntry(ctx);
    const rangeHeader = header(ctx, 'x-amz-copy-source-range');
    let [start, end] = [0, src.entry.size];
    if (rangeHeader !== undefined) {
      const r = /^bytes=\d+-\d+$/.test(rangeHeader) ? parseRange(rangeHeader, src.entry.size) : { kind: 'none' as const };
      if (r.kind !== 'range' || r.end !== Number(rangeHeader.split('-')[1]) + 1) {
        throw s3err('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy', { ArgumentName: 'x-amz-copy-source-range' });
      }
      [start, end] = [r.start, r.end];
    }
    stored = await ctx.backend.storeStream(ctx.bucket!, ctx.backend.open(src.bucket, src.entry, start, end));
  } else {
    stored = await storeBody(ctx, ctx.bucket!);
  }
  if (!uploads.has(up) || up.completing) throw s3err('NoSuchUpload', 'The upload was completed or aborted while this part was being sent.', { UploadId: up.id });
  const part: Part = { stored, etag: etagFor(stored.hash), lastModified: new Date() };
  up.parts.set(n, part);
  if (copy) sendXml(ctx, 200, xml.copyObjectResult(part.etag, part.lastModified, true));
  else sendEmpty(ctx, 200, { etag: part.etag });
}

const unquote = (t: string): string => t.trim().replace(/^"(.*)"$/, '$1');

export async function completeUpload(ctx: Ctx, uploads: Uploads, readXml: () => Promise<string>, minPartSize: number): Promise<void> {
  const up = uploads.get(ctx);
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
    return { n: r.partNumber, stored: have.stored };
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
    const result = await ctx.backend.commit(ctx.bucket!, up.branch, new Map([[up.path, whole]]), commitMessage(ctx, 'CompleteMultipartUpload', up.path));
    uploads.delete(up);
    const host = header(ctx, 'host') ?? '127.0.0.1';
    const location = `http://${host}/${encodeURIComponent(ctx.bucket!)}/${ctx.key.split('/').map(encodeURIComponent).join('/')}`;
    sendXml(ctx, 200, xml.completeMultipartUpload(location, ctx.bucket!, ctx.key, etagFor(whole.hash)), { 'x-dv-commit': result.commit });
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

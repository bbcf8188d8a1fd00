// S3 XML response bodies and the two request bodies we parse (CompleteMultipartUpload,
// Delete). Responses are built as strings: the shapes are fixed and small, and a
// generic builder would need the same escaping decisions anyway.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { s3err } from './errors.js';
import { decodeXmlEntities, escapeXml, XML_DECL } from './xml-escape.js';

export { escapeXml, XML_DECL };

const NS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const OWNER = '<Owner><ID>dv</ID><DisplayName>dv</DisplayName></Owner>';

const el = (name: string, value: string | number | boolean): string =>
  `<${name}>${typeof value === 'string' ? escapeXml(value) : String(value)}</${name}>`;
const opt = (name: string, value: string | number | undefined): string => (value === undefined ? '' : el(name, value));

export const isoTime = (d: Date): string => d.toISOString();

/**
 * encoding-type=url as AWS applies it to listing fields: UTF-8 percent-encoding that
 * keeps unreserved characters and `/`. A space is %20 (Ceph's s3-tests check this) and
 * a literal `+` is %2B, so clients decoding with unquote or unquote_plus agree.
 */
export function urlEncodeKey(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~/]/.test(c)) out += c;
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function listAllMyBuckets(buckets: { name: string; created: Date }[]): string {
  const items = buckets.map((b) => `<Bucket>${el('Name', b.name)}${el('CreationDate', isoTime(b.created))}</Bucket>`).join('');
  return `${XML_DECL}<ListAllMyBucketsResult xmlns="${NS}">${OWNER}<Buckets>${items}</Buckets></ListAllMyBucketsResult>`;
}

export function locationConstraint(region: string): string {
  // AWS answers an empty element for us-east-1, the historical default region.
  const body = region === 'us-east-1' ? '' : escapeXml(region);
  return `${XML_DECL}<LocationConstraint xmlns="${NS}">${body}</LocationConstraint>`;
}

export interface ListedObject {
  key: string;
  lastModified: Date;
  etag: string;
  size: number;
}

export interface ListResultCommon {
  bucket: string;
  prefix: string;
  delimiter: string;
  maxKeys: number;
  urlEncode: boolean;
  isTruncated: boolean;
  contents: ListedObject[];
  commonPrefixes: string[];
}

function listBody(r: ListResultCommon, withOwner: boolean): string {
  const enc = (s: string): string => (r.urlEncode ? urlEncodeKey(s) : s);
  let out = '';
  for (const o of r.contents) {
    out += `<Contents>${el('Key', enc(o.key))}${el('LastModified', isoTime(o.lastModified))}${el('ETag', o.etag)}` +
      `${el('Size', o.size)}${withOwner ? OWNER : ''}<StorageClass>STANDARD</StorageClass></Contents>`;
  }
  for (const p of r.commonPrefixes) out += `<CommonPrefixes>${el('Prefix', enc(p))}</CommonPrefixes>`;
  return out;
}

function listHead(r: ListResultCommon): { enc: (s: string) => string; delim: string; encType: string } {
  const enc = (s: string): string => (r.urlEncode ? urlEncodeKey(s) : s);
  return {
    enc,
    delim: r.delimiter ? el('Delimiter', enc(r.delimiter)) : '',
    encType: r.urlEncode ? el('EncodingType', 'url') : '',
  };
}

export function listObjectsV1(r: ListResultCommon & { marker: string; nextMarker?: string }): string {
  const { enc, delim, encType } = listHead(r);
  return `${XML_DECL}<ListBucketResult xmlns="${NS}">${el('Name', r.bucket)}${el('Prefix', enc(r.prefix))}` +
    `${el('Marker', enc(r.marker))}${r.nextMarker !== undefined ? el('NextMarker', enc(r.nextMarker)) : ''}` +
    `${el('MaxKeys', r.maxKeys)}${delim}${encType}${el('IsTruncated', r.isTruncated)}${listBody(r, true)}</ListBucketResult>`;
}

export function listObjectsV2(
  r: ListResultCommon & { continuationToken?: string; nextContinuationToken?: string; startAfter?: string; fetchOwner: boolean },
): string {
  const { enc, delim, encType } = listHead(r);
  const keyCount = r.contents.length + r.commonPrefixes.length;
  return `${XML_DECL}<ListBucketResult xmlns="${NS}">${el('Name', r.bucket)}${el('Prefix', enc(r.prefix))}` +
    `${opt('StartAfter', r.startAfter === undefined ? undefined : enc(r.startAfter))}` +
    `${opt('ContinuationToken', r.continuationToken)}${opt('NextContinuationToken', r.nextContinuationToken)}` +
    `${el('KeyCount', keyCount)}${el('MaxKeys', r.maxKeys)}${delim}${encType}${el('IsTruncated', r.isTruncated)}` +
    `${listBody(r, r.fetchOwner)}</ListBucketResult>`;
}

export function initiateMultipartUpload(bucket: string, key: string, uploadId: string): string {
  return `${XML_DECL}<InitiateMultipartUploadResult xmlns="${NS}">${el('Bucket', bucket)}${el('Key', key)}` +
    `${el('UploadId', uploadId)}</InitiateMultipartUploadResult>`;
}

/** `checksum`: the composite flexible checksum as stored (`sha256:<base64>-N`), returned
 * as S3 does in `<ChecksumSHA256>` (CRC32, CRC32C, SHA1 likewise). */
export function completeMultipartUpload(location: string, bucket: string, key: string, etag: string, checksum?: string): string {
  const i = checksum?.indexOf(':') ?? -1;
  const sum = checksum && i > 0 ? el(`Checksum${checksum.slice(0, i).toUpperCase()}`, checksum.slice(i + 1)) : '';
  return `${XML_DECL}<CompleteMultipartUploadResult xmlns="${NS}">${el('Location', location)}${el('Bucket', bucket)}` +
    `${el('Key', key)}${el('ETag', etag)}${sum}</CompleteMultipartUploadResult>`;
}

export interface PartInfo {
  partNumber: number;
  etag: string;
  size: number;
  lastModified: Date;
}

export function listParts(r: {
  bucket: string; key: string; uploadId: string; marker: number; nextMarker?: number;
  maxParts: number; isTruncated: boolean; parts: PartInfo[];
}): string {
  const parts = r.parts.map((p) => `<Part>${el('PartNumber', p.partNumber)}${el('LastModified', isoTime(p.lastModified))}` +
    `${el('ETag', p.etag)}${el('Size', p.size)}</Part>`).join('');
  return `${XML_DECL}<ListPartsResult xmlns="${NS}">${el('Bucket', r.bucket)}${el('Key', r.key)}${el('UploadId', r.uploadId)}` +
    `<Initiator><ID>dv</ID><DisplayName>dv</DisplayName></Initiator>${OWNER}<StorageClass>STANDARD</StorageClass>` +
    `${el('PartNumberMarker', r.marker)}${opt('NextPartNumberMarker', r.nextMarker)}${el('MaxParts', r.maxParts)}` +
    `${el('IsTruncated', r.isTruncated)}${parts}</ListPartsResult>`;
}

export function listMultipartUploads(r: {
  bucket: string; prefix: string; maxUploads: number; isTruncated: boolean;
  uploads: { key: string; uploadId: string; initiated: Date }[];
}): string {
  const ups = r.uploads.map((u) => `<Upload>${el('Key', u.key)}${el('UploadId', u.uploadId)}` +
    `<Initiator><ID>dv</ID><DisplayName>dv</DisplayName></Initiator>${OWNER}<StorageClass>STANDARD</StorageClass>` +
    `${el('Initiated', isoTime(u.initiated))}</Upload>`).join('');
  return `${XML_DECL}<ListMultipartUploadsResult xmlns="${NS}">${el('Bucket', r.bucket)}<KeyMarker></KeyMarker>` +
    `<UploadIdMarker></UploadIdMarker>${el('Prefix', r.prefix)}${el('MaxUploads', r.maxUploads)}` +
    `${el('IsTruncated', r.isTruncated)}${ups}</ListMultipartUploadsResult>`;
}

export function deleteResult(deleted: string[], errors: { key: string; code: string; message: string }[]): string {
  const d = deleted.map((k) => `<Deleted>${el('Key', k)}</Deleted>`).join('');
  const e = errors.map((x) => `<Error>${el('Key', x.key)}${el('Code', x.code)}${el('Message', x.message)}</Error>`).join('');
  return `${XML_DECL}<DeleteResult xmlns="${NS}">${d}${e}</DeleteResult>`;
}

export function copyObjectResult(etag: string, lastModified: Date, part = false): string {
  const tag = part ? 'CopyPartResult' : 'CopyObjectResult';
  return `${XML_DECL}<${tag} xmlns="${NS}">${el('ETag', etag)}${el('LastModified', isoTime(lastModified))}</${tag}>`;
}

// ---- request bodies ------------------------------------------------------------

const parser = new XMLParser({
  ignoreAttributes: true,
  ignoreDeclaration: true,
  removeNSPrefix: true,
  parseTagValue: false, // keys such as "0012" must stay strings
  trimValues: false, // keys may start or end with spaces
  processEntities: false, // decoded by decodeXmlEntities: no DOCTYPE entities, ever
  isArray: (name) => name === 'Part' || name === 'Object',
  maxNestedTags: 8,
});

function parseXml(xml: string, root: string): Record<string, unknown> {
  // A DOCTYPE is never part of an S3 request; refusing it rules out entity expansion.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml) || XMLValidator.validate(xml) !== true) {
    throw s3err('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
  }
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(xml) as Record<string, unknown>;
  } catch {
    throw s3err('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
  }
  const top = doc[root];
  if (top === undefined || top === null || typeof top !== 'object') {
    throw s3err('MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema (expected <${root}>).`);
  }
  return top as Record<string, unknown>;
}

function text(v: unknown, what: string): string {
  if (typeof v !== 'string') throw s3err('MalformedXML', `Missing or invalid ${what} in the request XML.`);
  const decoded = decodeXmlEntities(v);
  if (decoded === null) throw s3err('MalformedXML', `Invalid character reference in ${what}.`);
  return decoded;
}

export function parseCompleteMultipartUpload(xml: string): { partNumber: number; etag: string }[] {
  const top = parseXml(xml, 'CompleteMultipartUpload');
  const parts = top.Part;
  if (!Array.isArray(parts) || parts.length === 0) {
    throw s3err('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
  }
  return parts.map((p: unknown) => {
    const rec = (p ?? {}) as Record<string, unknown>;
    const num = text(rec.PartNumber, 'PartNumber').trim();
    if (!/^\d{1,5}$/.test(num)) throw s3err('MalformedXML', 'PartNumber must be an integer.');
    return { partNumber: Number(num), etag: text(rec.ETag, 'ETag').trim() };
  });
}

export function parseDelete(xml: string): { quiet: boolean; keys: string[] } {
  const top = parseXml(xml, 'Delete');
  const objs = top.Object ?? [];
  if (!Array.isArray(objs)) throw s3err('MalformedXML', 'Invalid <Object> list.');
  const keys = objs.map((o: unknown) => text(((o ?? {}) as Record<string, unknown>).Key, 'Key'));
  const quiet = top.Quiet === undefined ? false : text(top.Quiet, 'Quiet').trim().toLowerCase() === 'true';
  return { quiet, keys };
}

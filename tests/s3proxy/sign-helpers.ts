// Reference signatures from @smithy/signature-v4 (what the AWS SDK itself uses),
// turned into the SigV4Request shape the verifier takes.
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SigV4Request } from '../../src/s3proxy/sigv4.js';
import { uriEncode } from '../../src/s3proxy/sigv4.js';

/** The smithy Checksum interface over node:crypto (HMAC when given a secret). */
class Sha256 {
  private h: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuf(secret));
  }
  update(d: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(toBuf(d));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
  reset(): void {}
}

function toBuf(d: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof d === 'string') return Buffer.from(d, 'utf8');
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(d);
}

export function signer(accessKeyId: string, secretAccessKey: string, region = 'us-east-1'): SignatureV4 {
  return new SignatureV4({ credentials: { accessKeyId, secretAccessKey }, region, service: 's3', sha256: Sha256, uriEscapePath: false });
}

export interface PlainRequest {
  method: string;
  /** Already percent-encoded, as an S3 client sends it. */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
}

export function encodeQuery(q: Record<string, string | string[] | null>): string {
  return Object.entries(q)
    .flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x] as const) : [[k, v ?? ''] as const]))
    .map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`)
    .join('&');
}

function toSigV4(method: string, path: string, query: Record<string, string | string[] | null>, headers: Record<string, string>): SigV4Request {
  const m = new Map<string, string[]>();
  for (const [k, v] of Object.entries(headers)) m.set(k.toLowerCase(), [v]);
  return { method, rawPath: path, rawQuery: encodeQuery(query), headers: m };
}

export async function signHeaders(s: SignatureV4, r: PlainRequest, signingDate: Date, host = '127.0.0.1:9000'): Promise<SigV4Request> {
  const signed = await s.sign({
    method: r.method, protocol: 'http:', hostname: host.split(':')[0]!, port: Number(host.split(':')[1] ?? 80), path: r.path,
    query: r.query ?? {}, headers: { host, ...(r.headers ?? {}) }, body: r.body,
  }, { signingDate });
  return toSigV4(r.method, r.path, signed.query as Record<string, string>, signed.headers as Record<string, string>);
}

export async function presign(s: SignatureV4, r: PlainRequest, signingDate: Date, expiresIn: number, host = '127.0.0.1:9000'): Promise<SigV4Request> {
  const signed = await s.presign({
    method: r.method, protocol: 'http:', hostname: host.split(':')[0]!, path: r.path,
    // As @aws-sdk/s3-request-presigner does: S3 presigned URLs sign UNSIGNED-PAYLOAD.
    query: r.query ?? {}, headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...(r.headers ?? {}) },
  }, { signingDate, expiresIn });
  return toSigV4(r.method, r.path, signed.query as Record<string, string>, signed.headers as Record<string, string>);
}

export function withHeader(req: SigV4Request, name: string, value: string | null): SigV4Request {
  const headers = new Map(req.headers);
  if (value === null) headers.delete(name);
  else headers.set(name, [value]);
  return { ...req, headers };
}

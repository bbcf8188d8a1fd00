// A test-side aws-chunked encoder (signed, signed with trailer, unsigned with trailer),
// written from the AWS description, to feed the decoder and the server.
import { createHmac } from 'node:crypto';
import { EMPTY_SHA256, sha256Hex } from '../../src/s3proxy/sigv4.js';

export interface EncodeSigning {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  seedSignature: string;
}

const hmacHex = (key: Buffer, s: string): string => createHmac('sha256', key).update(s).digest('hex');

export function encodeChunked(
  pieces: Buffer[],
  opts: { signing?: EncodeSigning; trailers?: [string, string][] } = {},
): Buffer {
  const out: Buffer[] = [];
  let prev = opts.signing?.seedSignature ?? '';
  const sign = (data: Buffer): string => {
    const s = opts.signing!;
    const sig = hmacHex(s.signingKey, `AWS4-HMAC-SHA256-PAYLOAD\n${s.amzDate}\n${s.scope}\n${prev}\n${EMPTY_SHA256}\n${sha256Hex(data)}`);
    prev = sig;
    return sig;
  };
  for (const p of [...pieces.filter((x) => x.length > 0), Buffer.alloc(0)]) {
    const ext = opts.signing ? `;chunk-signature=${sign(p)}` : '';
    out.push(Buffer.from(`${p.length.toString(16)}${ext}\r\n`));
    if (p.length > 0) out.push(p, Buffer.from('\r\n'));
  }
  if (opts.trailers) {
    let text = '';
    for (const [k, v] of opts.trailers) {
      out.push(Buffer.from(`${k}:${v}\r\n`));
      text += `${k}:${v}\n`;
    }
    if (opts.signing) {
      const s = opts.signing;
      const sig = hmacHex(s.signingKey, `AWS4-HMAC-SHA256-TRAILER\n${s.amzDate}\n${s.scope}\n${prev}\n${sha256Hex(text)}`);
      out.push(Buffer.from(`x-amz-trailer-signature:${sig}\r\n`));
    }
  }
  out.push(Buffer.from('\r\n'));
  return Buffer.concat(out);
}

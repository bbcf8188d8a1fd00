// Decoder for `aws-chunked` request bodies:
//   STREAMING-AWS4-HMAC-SHA256-PAYLOAD          hex-size;chunk-signature=SIG CRLF data CRLF ... 0;chunk-signature=SIG CRLF CRLF
//   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER  the same, then trailer lines and x-amz-trailer-signature
//   STREAMING-UNSIGNED-PAYLOAD-TRAILER          hex-size CRLF data CRLF ... 0 CRLF trailer lines CRLF
// Data is passed on as it arrives (memory stays bounded by one header line), so a bad
// chunk signature is detected after its bytes went downstream: the stream then errors,
// and because the server commits only after a clean end, nothing bad is ever committed.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { S3Error, s3err } from './errors.js';
import { EMPTY_SHA256, hmac, sha256Hex, signaturesEqual } from './sigv4.js';

export type ChunkedMode = 'signed' | 'signed-trailer' | 'unsigned-trailer';

export interface ChunkSigning {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  /** The request's own signature: the first link of the chunk signature chain. */
  seedSignature: string;
}

const MAX_LINE = 4096;
const MAX_TRAILERS = 16;

type State = 'size' | 'data' | 'data-crlf' | 'trailer' | 'done';

export class AwsChunkedDecoder extends Transform {
  /** Trailing headers (lowercased names), available once the stream has ended. */
  readonly trailers = new Map<string, string>();
  decodedLength = 0;

  private state: State = 'size';
  private line: Buffer[] = [];
  private lineLen = 0;
  private remaining = 0;
  private crlfSeen = 0;
  private chunkSig = '';
  private prevSig: string;
  private hash: Hash | null = null;
  private trailerText = '';
  private trailerVerified = false;

  constructor(private readonly mode: ChunkedMode, private readonly signing?: ChunkSigning) {
    super();
    if (mode !== 'unsigned-trailer' && !signing) throw new Error('signed aws-chunked decoding needs the signing context');
    this.prevSig = signing?.seedSignature ?? '';
  }

  override _transform(buf: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.consume(buf);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    // Some encoders stop right after the final chunk's header line (no closing CRLF).
    const endedCleanly = this.state === 'done' || (this.state === 'trailer' && this.lineLen === 0 && this.mode !== 'signed-trailer');
    if (!endedCleanly) return cb(s3err('IncompleteBody', 'The request body ended before the final aws-chunked chunk.'));
    cb();
  }

  private consume(buf: Buffer): void {
    let i = 0;
    while (i < buf.length) {
      switch (this.state) {
        case 'data': {
          const n = Math.min(this.remaining, buf.length - i);
          const piece = buf.subarray(i, i + n);
          this.hash?.update(piece);
          this.push(piece);
          this.decodedLength += n;
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = 'data-crlf';
          break;
        }
        case 'data-crlf': {
          const expect = this.crlfSeen === 0 ? 0x0d : 0x0a;
          if (buf[i] !== expect) throw malformed('chunk data is not followed by CRLF');
          i++;
          if (++this.crlfSeen === 2) {
            this.crlfSeen = 0;
            this.endChunk();
          }
          break;
        }
        case 'done':
          throw malformed('data after the final chunk');
        default: {
          const nl = buf.indexOf(0x0a, i);
          const end = nl < 0 ? buf.length : nl;
          this.lineLen += end - i;
          if (this.lineLen > MAX_LINE) throw malformed('chunk header line too long');
          this.line.push(buf.subarray(i, end));
          i = end;
          if (nl >= 0) {
            i++;
            let text = Buffer.concat(this.line).toString('latin1');
            this.line = [];
            this.lineLen = 0;
            if (text.endsWith('\r')) text = text.slice(0, -1);
            if (this.state === 'size') this.onSizeLine(text);
            else this.onTrailerLine(text);
          }
        }
      }
    }
  }

  private onSizeLine(text: string): void {
    const semi = text.indexOf(';');
    const hex = (semi < 0 ? text : text.slice(0, semi)).trim();
    if (!/^[0-9a-fA-F]{1,13}$/.test(hex)) throw malformed('invalid chunk size');
    const size = parseInt(hex, 16);
    if (this.mode !== 'unsigned-trailer') {
      const m = /^chunk-signature=([0-9a-f]{64})$/.exec(semi < 0 ? '' : text.slice(semi + 1).trim());
      if (!m) throw malformed('missing chunk-signature');
      this.chunkSig = m[1]!;
      this.hash = createHash('sha256');
    }
    this.remaining = size;
    if (size > 0) {
      this.state = 'data';
      return;
    }
    if (this.mode !== 'unsigned-trailer') this.verifyChunk(EMPTY_SHA256);
    this.state = 'trailer';
  }

  private endChunk(): void {
    if (this.mode !== 'unsigned-trailer') this.verifyChunk(this.hash!.digest('hex'));
    this.hash = null;
    this.state = 'size';
  }

  private verifyChunk(dataHash: string): void {
    const s = this.signing!;
    const sts = `AWS4-HMAC-SHA256-PAYLOAD\n${s.amzDate}\n${s.scope}\n${this.prevSig}\n${EMPTY_SHA256}\n${dataHash}`;
    const expected = hmac(s.signingKey, sts).toString('hex');
    if (!signaturesEqual(expected, this.chunkSig)) {
      throw new S3Error('SignatureDoesNotMatch', 'The chunk signature we calculated does not match the signature you provided.');
    }
    this.prevSig = this.chunkSig;
  }

  private onTrailerLine(text: string): void {
    if (text === '') {
      if (this.mode === 'signed-trailer' && this.trailers.size > 0 && !this.trailerVerified) {
        throw new S3Error('SignatureDoesNotMatch', 'Trailing headers were sent without x-amz-trailer-signature.');
      }
      this.state = 'done';
      return;
    }
    const colon = text.indexOf(':');
    if (colon <= 0) throw malformed('invalid trailing header');
    const name = text.slice(0, colon).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (this.mode === 'signed-trailer' && name === 'x-amz-trailer-signature') {
      const s = this.signing!;
      const sts = `AWS4-HMAC-SHA256-TRAILER\n${s.amzDate}\n${s.scope}\n${this.prevSig}\n${sha256Hex(this.trailerText)}`;
      if (!signaturesEqual(hmac(s.signingKey, sts).toString('hex'), value)) {
        throw new S3Error('SignatureDoesNotMatch', 'The trailer signature we calculated does not match the signature you provided.');
      }
      this.trailerVerified = true;
      return;
    }
    if (this.trailerVerified) throw malformed('trailing header after x-amz-trailer-signature');
    if (this.trailers.size >= MAX_TRAILERS) throw malformed('too many trailing headers');
    this.trailers.set(name, value);
    this.trailerText += `${name}:${value}\n`;
  }
}

function malformed(what: string): S3Error {
  return s3err('IncompleteBody', `Malformed aws-chunked body: ${what}.`);
}

// aws-chunked decoding: AWS's published example, trailers, tampering, truncation,
// arbitrary split points; and the body verifier in front of storeStream.
import { PassThrough, Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { describe, expect, test } from 'vitest';
import { requestBody } from '../../src/s3proxy/body.js';
import { createChecksum } from '../../src/s3proxy/checksums.js';
import { AwsChunkedDecoder, type ChunkSigning } from '../../src/s3proxy/chunked.js';
import { S3Error } from '../../src/s3proxy/errors.js';
import { deriveSigningKey, parseQuery, verifySigV4, type VerifiedRequest } from '../../src/s3proxy/sigv4.js';
import { encodeChunked } from './chunk-encoder.js';

const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

/** The request of AWS's "PUT Object in chunks" example, verified to get the seed. */
function docSigning(): ChunkSigning {
  const headers: Record<string, string> = {
    host: 's3.amazonaws.com', 'x-amz-date': '20130524T000000Z', 'x-amz-storage-class': 'REDUCED_REDUNDANCY',
    authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9`,
    'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'content-encoding': 'aws-chunked',
    'x-amz-decoded-content-length': '66560', 'content-length': '66824',
  };
  const req = { method: 'PUT', rawPath: '/examplebucket/chunkObject.txt', rawQuery: '', headers: new Map(Object.entries(headers).map(([k, v]) => [k, [v]])) };
  return verifySigV4(req, parseQuery(''), 'header', { lookupSecret: () => SECRET, now: Date.UTC(2013, 4, 24) });
}

const DOC_BODY = Buffer.concat([
  Buffer.from('10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n'), Buffer.alloc(65536, 'a'), Buffer.from('\r\n'),
  Buffer.from('400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n'), Buffer.alloc(1024, 'a'), Buffer.from('\r\n'),
  Buffer.from('0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n'),
]);

async function decode(dec: AwsChunkedDecoder, body: Buffer, pieceSize: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < body.length; i += pieceSize) pieces.push(body.subarray(i, i + pieceSize));
  const out: Buffer[] = [];
  for await (const c of Readable.from(pieces).pipe(dec)) out.push(c as Buffer);
  return Buffer.concat(out);
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof S3Error ? e.code : `plain: ${(e as Error).message}`;
  }
  return 'OK';
}

describe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', () => {
  test('the AWS documentation example decodes at any split', async () => {
    const signing = docSigning();
    for (const size of [1, 7, 100, 65536, DOC_BODY.length]) {
      const dec = new AwsChunkedDecoder('signed', signing);
      const data = await decode(dec, DOC_BODY, size);
      expect(data.equals(Buffer.alloc(66560, 'a'))).toBe(true);
      expect(dec.decodedLength).toBe(66560);
    }
  });

  test('a flipped data byte, a reordered chunk or a bad final signature fail', async () => {
    const signing = docSigning();
    const flipped = Buffer.from(DOC_BODY);
    flipped[200] = 'b'.charCodeAt(0);
    expect(await failure(decode(new AwsChunkedDecoder('signed', signing), flipped, 4096))).toBe('SignatureDoesNotMatch');
    const badFinal = Buffer.from(DOC_BODY.toString('latin1').replace('b6c6ea8a', 'b6c6ea8b'), 'latin1');
    expect(await failure(decode(new AwsChunkedDecoder('signed', signing), badFinal, 4096))).toBe('SignatureDoesNotMatch');
    const otherSeed = { ...signing, seedSignature: '0'.repeat(64) };
    expect(await failure(decode(new AwsChunkedDecoder('signed', otherSeed), DOC_BODY, 4096))).toBe('SignatureDoesNotMatch');
  });

  test('truncated bodies and garbage framing are IncompleteBody', async () => {
    const signing = docSigning();
    expect(await failure(decode(new AwsChunkedDecoder('signed', signing), DOC_BODY.subarray(0, 60_000), 4096))).toBe('IncompleteBody');
    expect(await failure(decode(new AwsChunkedDecoder('signed', signing), Buffer.from('zz;chunk-signature=00\r\n'), 10))).toBe('IncompleteBody');
    const longLine = Buffer.from(`1${';x'.repeat(5000)}\r\n`);
    expect(await failure(decode(new AwsChunkedDecoder('unsigned-trailer'), longLine, 100))).toBe('IncompleteBody');
    const extra = Buffer.concat([DOC_BODY, Buffer.from('junk')]);
    expect(await failure(decode(new AwsChunkedDecoder('signed', signing), extra, 4096))).toBe('IncompleteBody');
  });
});

describe('trailers', () => {
  const signing: ChunkSigning = {
    signingKey: deriveSigningKey(SECRET, '20260101', 'us-east-1', 's3'), amzDate: '20260101T000000Z',
    scope: '20260101/us-east-1/s3/aws4_request', seedSignature: 'a'.repeat(64),
  };
  const data = [Buffer.alloc(10_000, 1), Buffer.alloc(3, 2)];

  test('unsigned payload with a checksum trailer', async () => {
    const dec = new AwsChunkedDecoder('unsigned-trailer');
    const out = await decode(dec, encodeChunked(data, { trailers: [['x-amz-checksum-crc32', 'AAAA']] }), 333);
    expect(out.equals(Buffer.concat(data))).toBe(true);
    expect(dec.trailers.get('x-amz-checksum-crc32')).toBe('AAAA');
  });

  test('the SDK may end right after the final 0 chunk', async () => {
    const enc = encodeChunked(data).subarray(0, -2); // no closing CRLF
    expect((await decode(new AwsChunkedDecoder('unsigned-trailer'), enc, 50)).length).toBe(10_003);
  });

  test('signed payload with a signed trailer; a tampered trailer fails', async () => {
    const enc = encodeChunked(data, { signing, trailers: [['x-amz-checksum-crc32c', 'sOO8/Q==']] });
    const dec = new AwsChunkedDecoder('signed-trailer', signing);
    expect((await decode(dec, enc, 999)).length).toBe(10_003);
    expect(dec.trailers.get('x-amz-checksum-crc32c')).toBe('sOO8/Q==');
    const bad = Buffer.from(enc.toString('latin1').replace('sOO8/Q==', 'sOO8/R=='), 'latin1');
    expect(await failure(decode(new AwsChunkedDecoder('signed-trailer', signing), bad, 999))).toBe('SignatureDoesNotMatch');
  });
});

/** Enough of an IncomingMessage for requestBody. */
function fakeReq(headers: Record<string, string>, body: Buffer): IncomingMessage {
  const pt = new PassThrough() as unknown as IncomingMessage & PassThrough;
  Object.assign(pt, { headers, complete: false });
  pt.on('end', () => { (pt as { complete: boolean }).complete = true; });
  setImmediate(() => pt.end(body));
  return pt;
}

const unsignedAuth = (payloadHash: string): VerifiedRequest => ({
  accessKeyId: 'K', via: 'header', payloadHash, signingKey: Buffer.alloc(32), seedSignature: '', amzDate: '', scope: '',
});

async function drain(r: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('request body verification', () => {
  const payload = Buffer.from('hello checksum world');
  const crc = (alg: 'crc32' | 'crc64nvme' | 'sha256'): string => {
    const c = createChecksum(alg);
    c.update(payload);
    return c.digestBase64();
  };

  test('trailing checksums are checked against the decoded bytes', async () => {
    const headers = { 'x-amz-trailer': 'x-amz-checksum-crc64nvme', 'x-amz-decoded-content-length': String(payload.length) };
    const good = encodeChunked([payload], { trailers: [['x-amz-checksum-crc64nvme', crc('crc64nvme')]] });
    expect((await drain(requestBody(fakeReq(headers, good), unsignedAuth('STREAMING-UNSIGNED-PAYLOAD-TRAILER')))).equals(payload)).toBe(true);
    const bad = encodeChunked([payload], { trailers: [['x-amz-checksum-crc64nvme', crc('crc32')]] });
    expect(await failure(drain(requestBody(fakeReq(headers, bad), unsignedAuth('STREAMING-UNSIGNED-PAYLOAD-TRAILER'))))).toBe('BadDigest');
    const missing = encodeChunked([payload]);
    expect(await failure(drain(requestBody(fakeReq(headers, missing), unsignedAuth('STREAMING-UNSIGNED-PAYLOAD-TRAILER'))))).toBe('InvalidRequest');
  });

  test('decoded length, x-amz-content-sha256, Content-MD5 and size limits', async () => {
    const enc = encodeChunked([payload]);
    const short = { 'x-amz-decoded-content-length': String(payload.length + 1) };
    expect(await failure(drain(requestBody(fakeReq(short, enc), unsignedAuth('STREAMING-UNSIGNED-PAYLOAD-TRAILER'))))).toBe('IncompleteBody');
    const sha = Buffer.from(crc('sha256'), 'base64').toString('hex');
    expect((await drain(requestBody(fakeReq({}, payload), unsignedAuth(sha)))).length).toBe(payload.length);
    expect(await failure(drain(requestBody(fakeReq({}, Buffer.from('other')), unsignedAuth(sha))))).toBe('XAmzContentSHA256Mismatch');
    const md5 = createChecksum('md5');
    md5.update(payload);
    expect(await failure(drain(requestBody(fakeReq({ 'content-md5': md5.digestBase64() }, Buffer.from('x')), unsignedAuth('UNSIGNED-PAYLOAD'))))).toBe('BadDigest');
    expect(await failure(drain(requestBody(fakeReq({}, payload), unsignedAuth('UNSIGNED-PAYLOAD'), { maxSize: 5 })))).toBe('EntityTooLarge');
    const wrongCrc = { 'x-amz-checksum-crc32': 'AAAAAA==' };
    expect(await failure(drain(requestBody(fakeReq(wrongCrc, payload), unsignedAuth('UNSIGNED-PAYLOAD'))))).toBe('BadDigest');
    // On CompleteMultipartUpload the header is the object's checksum, not the XML's.
    expect((await drain(requestBody(fakeReq(wrongCrc, payload), unsignedAuth('UNSIGNED-PAYLOAD'), { headerChecksums: false }))).length).toBe(payload.length);
    expect(() => requestBody(fakeReq({ 'content-length': '100' }, payload), unsignedAuth('UNSIGNED-PAYLOAD'), { maxSize: 5 })).toThrow(S3Error);
  });
});

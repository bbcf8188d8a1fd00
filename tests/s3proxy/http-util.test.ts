// Range parsing, conditional-request precedence, content types, ETags.
import { describe, expect, test } from 'vitest';
import { createHash } from 'node:crypto';
import { multipartEtag, quoteEtag } from '../../src/s3proxy/etag.js';
import { contentRange, contentTypeFor, evaluateConditions, parseRange } from '../../src/s3proxy/http-util.js';

describe('parseRange', () => {
  const size = 100;
  test.each([
    ['bytes=0-9', { kind: 'range', start: 0, end: 10 }],
    ['bytes=90-', { kind: 'range', start: 90, end: 100 }],
    ['bytes=-10', { kind: 'range', start: 90, end: 100 }],
    ['bytes=-1000', { kind: 'range', start: 0, end: 100 }],
    ['bytes=50-5000', { kind: 'range', start: 50, end: 100 }],
    ['bytes=99-99', { kind: 'range', start: 99, end: 100 }],
    ['BYTES = 1 - 2', { kind: 'range', start: 1, end: 3 }],
    ['bytes=100-', { kind: 'unsatisfiable' }],
    ['bytes=100-200', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=0-1,5-6', { kind: 'none' }], // several ranges: S3 sends the whole object
    ['bytes=5-2', { kind: 'none' }], // invalid: ignored
    ['bytes=-', { kind: 'none' }],
    ['bytes=a-b', { kind: 'none' }],
    ['items=0-1', { kind: 'none' }],
  ])('%s', (h, want) => {
    expect(parseRange(h, size)).toEqual(want);
  });
  test('no header, and ranges on an empty object', () => {
    expect(parseRange(undefined, 5)).toEqual({ kind: 'none' });
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-5', 0)).toEqual({ kind: 'unsatisfiable' });
  });
  test('Content-Range', () => {
    expect(contentRange(0, 10, 100)).toBe('bytes 0-9/100');
  });
});

describe('evaluateConditions (S3 precedence)', () => {
  const etag = '"abc"';
  const lm = new Date('2026-01-01T00:00:00Z');
  const before = 'Wed, 31 Dec 2025 00:00:00 GMT';
  const same = lm.toUTCString();
  const after = 'Fri, 02 Jan 2026 00:00:00 GMT';
  const now = Date.parse('2026-06-01T00:00:00Z');
  const ev = (c: Parameters<typeof evaluateConditions>[0], method = 'GET') => evaluateConditions(c, etag, lm, method, now);

  test('If-Match', () => {
    expect(ev({ ifMatch: '"abc"' })).toBe('ok');
    expect(ev({ ifMatch: 'abc' })).toBe('ok');
    expect(ev({ ifMatch: '"x", "abc"' })).toBe('ok');
    expect(ev({ ifMatch: '*' })).toBe('ok');
    expect(ev({ ifMatch: '"x"' })).toBe('precondition-failed');
  });
  test('If-Match true wins over a failing If-Unmodified-Since', () => {
    expect(ev({ ifMatch: '"abc"', ifUnmodifiedSince: before })).toBe('ok');
    expect(ev({ ifUnmodifiedSince: before })).toBe('precondition-failed');
    expect(ev({ ifUnmodifiedSince: same })).toBe('ok');
  });
  test('If-None-Match false wins over a true If-Modified-Since; 304 for reads, 412 otherwise', () => {
    expect(ev({ ifNoneMatch: '"abc"', ifModifiedSince: before })).toBe('not-modified');
    expect(ev({ ifNoneMatch: 'W/"abc"' })).toBe('not-modified');
    expect(ev({ ifNoneMatch: '"abc"' }, 'PUT')).toBe('precondition-failed');
    expect(ev({ ifNoneMatch: '"x"', ifModifiedSince: after })).toBe('ok');
  });
  test('If-Modified-Since', () => {
    expect(ev({ ifModifiedSince: before })).toBe('ok');
    expect(ev({ ifModifiedSince: same })).toBe('not-modified');
    expect(ev({ ifModifiedSince: after })).toBe('not-modified');
    expect(ev({ ifModifiedSince: 'Sat, 01 Jan 2050 00:00:00 GMT' })).toBe('ok'); // future dates are ignored
    expect(ev({ ifModifiedSince: 'garbage' })).toBe('ok');
  });
  test('copy-source conditions fail with 412 where a read would get 304', () => {
    expect(ev({ ifNoneMatch: '"abc"' }, 'COPY')).toBe('precondition-failed');
    expect(ev({ ifModifiedSince: after }, 'COPY')).toBe('precondition-failed');
    expect(ev({ ifModifiedSince: before }, 'COPY')).toBe('ok');
  });
  test('If-Match failure beats If-None-Match', () => {
    expect(ev({ ifMatch: '"x"', ifNoneMatch: '"abc"' })).toBe('precondition-failed');
  });
});

test('content types by extension, octet-stream otherwise', () => {
  expect(contentTypeFor('a/b.csv')).toBe('text/csv');
  expect(contentTypeFor('x.PARQUET')).toBe('application/vnd.apache.parquet');
  expect(contentTypeFor('x.json')).toBe('application/json');
  expect(contentTypeFor('pic.JPG')).toBe('image/jpeg');
  expect(contentTypeFor('t.tar.gz')).toBe('application/gzip');
  expect(contentTypeFor('noext')).toBe('application/octet-stream');
});

test('multipart ETag: MD5 of the binary part MD5s, then -N (as S3 computes it)', () => {
  const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
  const parts = [md5('a'.repeat(10)), md5('b')];
  const want = createHash('md5').update(Buffer.concat(parts.map((p) => Buffer.from(p, 'hex')))).digest('hex');
  expect(multipartEtag(parts)).toBe(`${want}-2`);
  expect(quoteEtag(md5('x'))).toBe(`"${md5('x')}"`);
});

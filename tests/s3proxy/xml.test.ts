// XML escaping of responses and safe parsing of request bodies.
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, test } from 'vitest';
import { errorXml, S3Error } from '../../src/s3proxy/errors.js';
import { decodeXmlEntities, escapeXml } from '../../src/s3proxy/xml-escape.js';
import * as xml from '../../src/s3proxy/xml.js';

const parse = (s: string) => new XMLParser({ parseTagValue: false, processEntities: true }).parse(s);

describe('escaping', () => {
  test('markup characters and control characters', () => {
    expect(escapeXml(`a&b<c>"d'`)).toBe('a&amp;b&lt;c&gt;&quot;d&apos;');
    expect(escapeXml('x\ry\u0001')).toBe('x&#xD;y&#x1;');
    expect(escapeXml('ünï 漢字')).toBe('ünï 漢字');
  });
  test('error bodies carry Code, Message, Resource, RequestId and extras', () => {
    const body = errorXml(new S3Error('NoSuchKey', 'The <key> & more', { extra: { Key: 'a&b' } }), '/b/a&b', 'REQ1');
    const doc = parse(body).Error;
    expect(doc).toEqual({ Code: 'NoSuchKey', Message: 'The <key> & more', Key: 'a&b', Resource: '/b/a&b', RequestId: 'REQ1' });
  });
  test('listing keys with special characters round-trip through a parser', () => {
    const body = xml.listObjectsV2({
      bucket: 'b', prefix: '', delimiter: '', maxKeys: 1000, urlEncode: false, isTruncated: false, fetchOwner: false,
      contents: [{ key: 'main/<&>.csv', lastModified: new Date(0), etag: '"e"', size: 1 }], commonPrefixes: ['main/a&b/'],
    });
    const doc = parse(body).ListBucketResult;
    expect(doc.Contents.Key).toBe('main/<&>.csv');
    expect(doc.CommonPrefixes.Prefix).toBe('main/a&b/');
    expect(doc.KeyCount).toBe('2');
  });
  test('encoding-type=url: space as +, plus as %2B, UTF-8 percent-encoded, slash kept', () => {
    expect(xml.urlEncodeKey('main/a b+c/ü~.csv')).toBe('main/a%20b%2Bc/%C3%BC~.csv');
  });
  test('location constraint is empty for us-east-1', () => {
    expect(parse(xml.locationConstraint('us-east-1')).LocationConstraint).toBe('');
    expect(parse(xml.locationConstraint('eu-west-1')).LocationConstraint).toBe('eu-west-1');
  });
});

describe('request parsing', () => {
  test('CompleteMultipartUpload', () => {
    const parts = xml.parseCompleteMultipartUpload(`<?xml version="1.0" encoding="UTF-8"?>
      <CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
        <Part><ETag>"a1"</ETag><PartNumber>1</PartNumber></Part>
        <Part><PartNumber>2</PartNumber><ETag>&quot;b2&quot;</ETag><ChecksumCRC32>x</ChecksumCRC32></Part>
      </CompleteMultipartUpload>`);
    expect(parts).toEqual([{ partNumber: 1, etag: '"a1"' }, { partNumber: 2, etag: '"b2"' }]);
  });
  test('Delete keeps keys verbatim (spaces, leading zeros, entities)', () => {
    const r = xml.parseDelete('<Delete><Quiet>true</Quiet><Object><Key> 007 &amp; &#x41;&#66;.csv</Key></Object><Object><Key>b</Key></Object></Delete>');
    expect(r).toEqual({ quiet: true, keys: [' 007 & AB.csv', 'b'] });
  });
  test('malformed, DOCTYPE/entity bombs, wrong root, deep nesting -> MalformedXML', () => {
    const bad = [
      '<Delete><Object><Key>a</Key></Object>',
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><Delete><Object><Key>&lol;</Key></Object></Delete>',
      '<Other/>',
      '<CompleteMultipartUpload></CompleteMultipartUpload>',
      `<Delete>${'<a>'.repeat(50)}${'</a>'.repeat(50)}</Delete>`,
      '<Delete><Object><Key>&unknown;</Key></Object></Delete>',
    ];
    for (const b of bad) {
      let code = '';
      try {
        if (b.includes('Complete')) xml.parseCompleteMultipartUpload(b);
        else xml.parseDelete(b);
      } catch (e) {
        code = (e as S3Error).code;
      }
      expect(code, b).toBe('MalformedXML');
    }
  });
  test('entity decoding rejects unknown and invalid references', () => {
    expect(decodeXmlEntities('a&lt;b')).toBe('a<b');
    expect(decodeXmlEntities('&#0;')).toBeNull();
    expect(decodeXmlEntities('a & b')).toBeNull();
  });
});

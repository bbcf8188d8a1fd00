// S3 error codes with the HTTP status AWS uses for each, and the XML error body.
import { escapeXml, XML_DECL } from './xml-escape.js';

const STATUS: Record<string, number> = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  BadDigest: 400,
  BucketAlreadyOwnedByYou: 409,
  EntityTooLarge: 400,
  ExpiredToken: 400,
  EntityTooSmall: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidToken: 400,
  InvalidURI: 400,
  KeyTooLongError: 400,
  MalformedXML: 400,
  MaxMessageLengthExceeded: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  MissingSecurityHeader: 400,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NotImplemented: 501,
  NotModified: 304,
  PreconditionFailed: 412,
  RequestHeaderSectionTooLarge: 431,
  RequestTimeTooSkewed: 403,
  SignatureDoesNotMatch: 403,
  OperationAborted: 409,
  SlowDown: 503,
  XAmzContentSHA256Mismatch: 400,
};

/** An error the client caused (or 500 InternalError); rendered as an S3 XML error body. */
export class S3Error extends Error {
  readonly status: number;
  /** Extra elements AWS adds for some codes (e.g. Key, BucketName, ArgumentName). */
  readonly extra: Record<string, string>;
  /** Response headers that go with the error (e.g. Content-Range on 416). */
  readonly headers: Record<string, string>;

  constructor(readonly code: string, message: string, opts: { extra?: Record<string, string>; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'S3Error';
    this.status = STATUS[code] ?? 400;
    this.extra = opts.extra ?? {};
    this.headers = opts.headers ?? {};
  }
}

export function s3err(code: string, message: string, extra?: Record<string, string>): S3Error {
  return new S3Error(code, message, { extra });
}

/** Status codes whose responses never carry a body. */
export function statusHasBody(status: number, method: string): boolean {
  return method !== 'HEAD' && status !== 304 && status !== 204;
}

export function errorXml(err: S3Error, resource: string, requestId: string): string {
  let extra = '';
  for (const [k, v] of Object.entries(err.extra)) extra += `<${k}>${escapeXml(v)}</${k}>`;
  return (
    `${XML_DECL}<Error><Code>${escapeXml(err.code)}</Code><Message>${escapeXml(err.message)}</Message>` +
    `${extra}<Resource>${escapeXml(resource)}</Resource><RequestId>${requestId}</RequestId></Error>`
  );
}

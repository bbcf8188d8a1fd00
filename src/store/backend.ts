// A key/value object store seen through the S3 verbs we need. The S3 remote
// (src/store/s3backend.ts) implements it; tests and `dv serve --remote` use it too.
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

export interface PutOptions {
  /** Only write if the current object's ETag equals this (compare-and-swap). */
  ifMatch?: string;
  /** '*' = only write if no object exists under the key. */
  ifNoneMatch?: '*';
  contentType?: string;
}

export interface Backend {
  /** A human-readable location, e.g. `s3://bucket/prefix`. */
  readonly url: string;
  /** Every object under `prefix` (relative to the backend's own prefix), in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  head(key: string): Promise<ObjectInfo | null>;
  /** The whole object, or null if it does not exist. */
  get(key: string): Promise<{ body: Buffer; etag?: string } | null>;
  getRange(key: string, start: number, length: number): Promise<Buffer>;
  getStream(key: string): Promise<Readable>;
  /** Throws `PreconditionFailed` (a DvError with code 'PRECONDITION') when a condition fails. */
  put(key: string, body: Buffer | { path: string; size: number }, opts?: PutOptions): Promise<{ etag?: string }>;
  delete(key: string): Promise<void>;
}

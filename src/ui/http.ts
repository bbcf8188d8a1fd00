// Small HTTP helpers of the web console's JSON API: replies, errors, query parsing
// and server-side paging. Every list the API returns is a page: {offset, limit, total}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DvError } from '../store/errors.js';

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export const notFound = (what: string): ApiError => new ApiError(404, what);
export const forbidden = (what: string): ApiError => new ApiError(403, what);
export const badRequest = (what: string): ApiError => new ApiError(400, what);

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': data.length, ...headers });
  res.end(data);
}

export function sendError(res: ServerResponse, e: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (e instanceof ApiError) return sendJson(res, e.status, { error: e.message });
  if (e instanceof DvError) {
    const status = e.code === 'UNKNOWN_REF' || /^unknown |does not exist/.test(e.message) ? 404 : 400;
    return sendJson(res, status, { error: e.message });
  }
  sendJson(res, 500, { error: 'internal error' });
}

export class Query {
  constructor(readonly params: URLSearchParams) {}

  str(name: string, fallback?: string): string {
    const v = this.params.get(name) ?? fallback;
    if (v === undefined) throw badRequest(`missing query parameter '${name}'`);
    return v;
  }

  opt(name: string): string | undefined {
    return this.params.get(name) ?? undefined;
  }

  int(name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.params.get(name);
    if (v === null || v === '') return fallback;
    if (!/^\d+$/.test(v)) throw badRequest(`query parameter '${name}' must be a non-negative integer`);
    return Math.min(Number(v), max);
  }

  /** offset/limit of a page; limit is capped so no request can ask for everything at once. */
  page(defaultLimit = 100, maxLimit = 1000): { offset: number; limit: number } {
    return { offset: this.int('offset', 0), limit: Math.max(1, this.int('limit', defaultLimit, maxLimit)) };
  }
}

export interface Page<T> {
  items: T[];
  offset: number;
  limit: number;
  total: number;
}

export function pageOf<T>(all: readonly T[], p: { offset: number; limit: number }): Page<T> {
  return { items: all.slice(p.offset, p.offset + p.limit), offset: p.offset, limit: p.limit, total: all.length };
}

/** A small JSON request body (login only); refuses anything but application/json. */
export async function jsonBody(req: IncomingMessage, maxBytes = 4096): Promise<Record<string, unknown>> {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new ApiError(415, 'expected an application/json body');
  const parts: Buffer[] = [];
  let n = 0;
  for await (const b of req as AsyncIterable<Buffer>) {
    n += b.length;
    if (n > maxBytes) throw new ApiError(413, 'request body too large');
    parts.push(b);
  }
  try {
    const v = JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw badRequest('body is not a JSON object');
}

// Who is asking: the console's login and its session cookie.
//
// A user logs in with a dv serve access key (id + secret, as for S3). The server then
// sets a cookie it signed itself (HMAC-SHA256 with a secret that lives only in this
// process, so a restart ends every session): HttpOnly so page scripts cannot read it,
// SameSite=Strict so no other site's page can send it. The key is looked up again on
// every request, so revoking it ends its sessions at once. `dv ui` on loopback may run
// without keys: every request then reads as the local user (read pattern '*').
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { KeyLookup } from '../s3proxy/keys.js';
import { ApiError } from './http.js';

export interface Principal {
  /** Access key id, or null for the local user of a key-less `dv ui`. */
  id: string | null;
  read: string[];
}

export const COOKIE = 'dv_ui';
const DEFAULT_TTL_MS = 12 * 3600_000;

export interface SessionOptions {
  keys: KeyLookup;
  /** No login: every request is the local user (only for loopback `dv ui`). */
  anonymous?: boolean;
  ttlMs?: number;
  now?: () => number;
}

function cookieValue(req: IncomingMessage, name: string): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/i;

export class Sessions {
  private readonly secret = randomBytes(32);

  constructor(private readonly opts: SessionOptions) {}

  get anonymous(): boolean {
    return this.opts.anonymous === true;
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.secret).update(payload).digest('base64url');
  }

  /** Checks id + secret and returns the Set-Cookie header value of a new session. */
  login(id: unknown, secret: unknown): { cookie: string; principal: Principal } {
    const key = typeof id === 'string' ? this.opts.keys.lookup(id) : null;
    const given = Buffer.from(typeof secret === 'string' ? secret : '', 'utf8');
    const want = Buffer.from(key?.secret ?? '', 'utf8');
    if (!key || given.length !== want.length || !timingSafeEqual(given, want)) throw new ApiError(401, 'unknown access key id or wrong secret');
    const ttl = this.opts.ttlMs ?? DEFAULT_TTL_MS;
    const payload = Buffer.from(JSON.stringify({ k: key.id, e: this.now() + ttl }), 'utf8').toString('base64url');
    const cookie = `${COOKIE}=${payload}.${this.sign(payload)}; Path=/ui/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(ttl / 1000)}`;
    return { cookie, principal: { id: key.id, read: key.read } };
  }

  logoutCookie(): string {
    return `${COOKIE}=; Path=/ui/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }

  /** The principal of a request, or null when it has no valid session. */
  principal(req: IncomingMessage): Principal | null {
    if (this.anonymous) {
      // A key-less console answers only to loopback names, so a web page elsewhere
      // cannot rebind its own host name to 127.0.0.1 and read through the browser.
      return LOOPBACK_HOST.test(req.headers.host ?? '') ? { id: null, read: ['*'] } : null;
    }
    const raw = cookieValue(req, COOKIE);
    const dot = raw?.lastIndexOf('.') ?? -1;
    if (!raw || dot <= 0) return null;
    const payload = raw.slice(0, dot);
    const sig = Buffer.from(raw.slice(dot + 1), 'utf8');
    const want = Buffer.from(this.sign(payload), 'utf8');
    if (sig.length !== want.length || !timingSafeEqual(sig, want)) return null;
    let doc: { k?: unknown; e?: unknown };
    try {
      doc = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof doc;
    } catch {
      return null;
    }
    if (typeof doc.k !== 'string' || typeof doc.e !== 'number' || doc.e < this.now()) return null;
    const key = this.opts.keys.lookup(doc.k);
    return key ? { id: key.id, read: key.read } : null;
  }
}

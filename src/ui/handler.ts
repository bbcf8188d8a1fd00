// The web console's entry: gets the first look at every request of dv serve whose
// path is under /ui/ (the S3 routes never see those). /ui/api/* is the JSON API (the
// page's and scripts'), everything else under /ui/ is the built page.
//
// Read-only by construction: the only non-GET routes are login and logout, which
// change a cookie and nothing else; every other method on every route is 405.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Repo } from '../repo/repo.js';
import type { KeyLookup } from '../s3proxy/keys.js';
import { diffRefs, rowDiff } from './api/diff.js';
import { experiments } from './api/experiments.js';
import { fileLineage, stageDag } from './api/graph.js';
import { live } from './api/live.js';
import { metrics, plots } from './api/metrics.js';
import { raw, table, text } from './api/preview.js';
import { RunsApi } from './api/runs.js';
import { fileInfo, history, refs, tree } from './api/versions.js';
import { ApiError, jsonBody, Query, sendError, sendJson } from './http.js';
import { Sessions, type Principal } from './session.js';
import { serveStatic } from './static.js';

export interface UiOptions {
  repo: Repo;
  keys: KeyLookup;
  /** The S3 bucket name, for the s3:// paths the page shows. */
  bucket: string;
  /** No login (loopback `dv ui` only). */
  anonymous?: boolean;
  /** Where the built page is (default: dist/ui/web). */
  webDir?: string;
}

/** Returns true when it took the request. */
export type UiHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

type Route = (p: Principal, q: Query, req: IncomingMessage, res: ServerResponse) => Promise<unknown>;

export function createUiHandler(opts: UiOptions): UiHandler {
  const { repo } = opts;
  const sessions = new Sessions({ keys: opts.keys, anonymous: opts.anonymous });
  const runs = new RunsApi(repo);
  const routes: Record<string, Route> = {
    refs: async (p) => refs(repo, p),
    log: (p, q) => history(repo, p, q),
    tree: (p, q) => tree(repo, p, q),
    file: (p, q) => fileInfo(repo, p, q, opts.bucket),
    text: (p, q) => text(repo, p, q),
    table: (p, q) => table(repo, p, q),
    diff: (p, q) => diffRefs(repo, p, q),
    'diff/rows': (p, q) => rowDiff(repo, p, q),
    runs: (p, q) => runs.list(p, q),
    dag: (p, q) => stageDag(repo, p, q),
    lineage: (p, q) => fileLineage(repo, p, q),
    live: (p, q) => live(repo, p, q),
    metrics: (p, q) => metrics(repo, p, q),
    plots: (p, q) => plots(repo, p, q),
    experiments: (p, q) => experiments(repo, p, q),
  };

  async function api(sub: string, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    if (sub === 'login' || sub === 'logout') {
      if (method !== 'POST') throw new ApiError(405, `${method} is not allowed here (POST)`);
      if (sub === 'logout') return sendJson(res, 200, { ok: true }, { 'set-cookie': sessions.logoutCookie() });
      const body = await jsonBody(req);
      const { cookie, principal } = sessions.login(body.accessKeyId, body.secretAccessKey);
      return sendJson(res, 200, { user: principal.id, read: principal.read }, { 'set-cookie': cookie });
    }
    if (method !== 'GET' && method !== 'HEAD') throw new ApiError(405, 'the console API is read-only: only GET is allowed');
    const p = sessions.principal(req);
    if (sub === 'session') return sendJson(res, 200, { user: p?.id ?? null, read: p?.read ?? [], anonymous: sessions.anonymous, loggedIn: p !== null });
    if (!p) throw new ApiError(401, 'log in with an access key (dv keys create --read PATTERN)');
    const q = new Query(url.searchParams);
    if (sub === 'raw') return raw(repo, p, q, req.headers.range, res);
    const m = /^runs\/([0-9a-f]{4,64})(?:\/(datums|log))?$/.exec(sub);
    if (m) {
      if (m[2] === 'log') {
        const body = Buffer.from(await runs.log(p, m[1]!, q), 'utf8');
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
        return void res.end(body);
      }
      return sendJson(res, 200, m[2] ? await runs.datums(p, m[1]!, q) : await runs.run(p, m[1]!));
    }
    const route = routes[sub];
    if (!route) throw new ApiError(404, `no API route /ui/api/${sub}`);
    sendJson(res, 200, await route(p, q, req, res));
  }

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ui' && !url.pathname.startsWith('/ui/')) return false;
    if (url.pathname.startsWith('/ui/api/')) {
      api(url.pathname.slice('/ui/api/'.length).replace(/\/+$/, ''), req, res, url).catch((e) => sendError(res, e));
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: 'the console is read-only' });
      return true;
    }
    if (url.pathname === '/ui') {
      res.writeHead(301, { location: '/ui/' });
      res.end();
      return true;
    }
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname.slice('/ui/'.length));
    } catch {
      sendJson(res, 400, { error: 'malformed path' });
      return true;
    }
    serveStatic(rel, res, opts.webDir);
    return true;
  };
}

// The built page (Vite's output in dist/ui/web, next to this module once compiled)
// served as static files: fixed content types, no directory listing, no path outside
// the folder, index.html for every page route (the page routes with #fragments).
import fs from 'node:fs';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.wasm': 'application/wasm',
};

// The page loads nothing from elsewhere: no CDN, no network beyond this server.
const CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export function serveStatic(rel: string, res: ServerResponse, webDir = WEB_DIR): void {
  const clean = path.posix.normalize(`/${rel}`).slice(1);
  let file = path.join(webDir, clean);
  if (!file.startsWith(webDir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) file = path.join(webDir, 'index.html');
  if (!fs.existsSync(file)) {
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('dv ui: the page is not built; run npm run build\n');
    return;
  }
  const data = fs.readFileSync(file);
  const hashed = /\/assets\//.test(file);
  res.writeHead(200, {
    'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'content-length': data.length,
    'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
    'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer',
  });
  res.end(data);
}

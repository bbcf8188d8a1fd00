// Shared by the remote suites: the CLI runner of tests/helpers/cli.ts with the S3
// environment, temp repositories and deterministic files, a client to inspect the
// bucket, and a loopback proxy in front of s3rver to hold, cut or reject requests.
import type { ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { S3Backend } from '../../src/store/s3backend.js';
import * as cli from '../helpers/cli.js';
import { afterAll, beforeAll } from 'vitest';
import { startS3Server, type S3TestServer } from '../helpers/s3server.js';

cli.ensureBuilt();

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export type Env = Record<string, string | undefined>;

/** What a child dv needs to reach the test server (cli.ts adds the rest of the environment). */
export function dvEnv(s3: S3TestServer, extra: Env = {}): Env {
  return { ...s3.env, DV_REMOTE_SETTLE_MS: '100', ...extra };
}

export function spawnDv(cwd: string, args: string[], env: Env): ChildProcess {
  return cli.spawnDv(cwd, args, { env }).child;
}

export async function dv(cwd: string, args: string[], env: Env): Promise<Run> {
  const r = await cli.dv(cwd, args, { env });
  return { code: r.code ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/** Runs dv and fails the test with its output unless it exits 0; returns stdout. */
export async function dvOk(cwd: string, args: string[], env: Env): Promise<string> {
  return (await cli.dvOk(cwd, args, { env })).stdout;
}

export async function dvJson<T = any>(cwd: string, args: string[], env: Env): Promise<T> {
  return cli.dvJson<T>(cwd, [...args, '--json'], { env });
}

/** Asserts the one-line error contract and returns the message. */
export function errorLine(r: Run): string {
  if (r.code !== 1) throw new Error(`expected exit 1, got ${r.code}: ${r.stderr}${r.stdout}`);
  // Notices of a push waiting for (or taking over) a ref lease may come first.
  const lines = r.stderr.trimEnd().split('\n').filter((l) => !/^dv: (waiting for|taking over) /.test(l));
  if (lines.length !== 1 || !lines[0].startsWith('dv: error: ')) throw new Error(`not one error line: ${r.stderr}`);
  return lines[0];
}

const dirs = new cli.TempDirs();
export function tempDir(prefix = 'dv-remote-'): string {
  return dirs.make(prefix);
}
export function removeTempDirs(): void {
  dirs.cleanup();
}

/** Deterministic pseudo-random bytes (AES-CTR keystream of a seed). */
export function randomData(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

export function writeFile(file: string, data: Buffer | string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
}

/** A client on the bucket for looking behind dv's back. */
export function bucket(s3: S3TestServer, prefix: string, endpoint = s3.endpoint): S3Backend {
  return new S3Backend(`s3://${s3.bucket}/${prefix}`, { endpoint, credentials: s3.credentials, region: 'us-east-1', retryBaseMs: 5 });
}

export async function listAll(b: S3Backend, prefix = ''): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const o of b.list(prefix)) out.set(o.key, o.size);
  return out;
}

export type Verdict = 'forward' | 'hold' | 'reset' | 'cut-response' | { status: number; code: string };

export interface Proxy {
  endpoint: string;
  /** Every request seen: method, path and request body size. */
  seen: { method: string; url: string; bytes: number }[];
  decide: (req: http.IncomingMessage, body: Buffer) => Verdict | Promise<Verdict>;
  close(): Promise<void>;
}

/** A loopback HTTP proxy in front of `target`; `decide` picks each request's fate. */
export async function startProxy(target: string): Promise<Proxy> {
  const t = new URL(target);
  const held: http.ServerResponse[] = [];
  const proxy: Proxy = {
    endpoint: '', seen: [], decide: () => 'forward',
    async close() {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    proxy.seen.push({ method: req.method!, url: req.url!, bytes: body.length });
    const verdict = await proxy.decide(req, body);
    if (verdict === 'hold') { held.push(res); return; }
    if (verdict === 'reset') { req.socket.destroy(); return; }
    if (typeof verdict === 'object') {
      const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${verdict.code}</Code><Message>injected</Message></Error>`;
      res.writeHead(verdict.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
      res.end(req.method === 'HEAD' ? undefined : xml);
      return;
    }
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      if (verdict !== 'cut-response') { r.pipe(res); return; }
      // Half the body, then the connection drops: a server dying mid-transfer.
      const want = Number(r.headers['content-length'] ?? 0) / 2;
      let sent = 0;
      r.on('data', (d: Buffer) => {
        if (sent >= want) return;
        res.write(d.subarray(0, Math.max(0, want - sent)));
        sent += d.length;
        if (sent >= want) { r.destroy(); res.socket?.destroy(); }
      });
    });
    up.on('error', () => res.destroy());
    up.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

/** Makes the proxy enforce If-Match / If-None-Match on PUT the way AWS S3 does, so the
 * conditional-write path of dv runs against s3rver (which ignores both headers).
 * Not atomic: fine for tests that serialise their writers. */
export function enforceConditionalWrites(proxy: Proxy, target: string): void {
  const t = new URL(target);
  // s3rver serves anonymous requests; its own signature checks are not the point here.
  const headEtag = (url: string) => new Promise<string | null>((resolve, reject) => {
    http.request({ host: t.hostname, port: t.port, method: 'HEAD', path: url.split('?')[0] },
      (r) => { r.resume(); resolve(r.statusCode === 200 ? String(r.headers.etag) : null); }).on('error', reject).end();
  });
  proxy.decide = async (req) => {
    if (req.method !== 'PUT') return 'forward';
    const ifNone = req.headers['if-none-match'];
    const ifMatch = req.headers['if-match'];
    if (!ifNone && !ifMatch) return 'forward';
    const etag = await headEtag(req.url!);
    if (ifNone === '*' && etag !== null) return { status: 412, code: 'PreconditionFailed' };
    if (ifMatch && ifMatch !== etag) return { status: 412, code: 'PreconditionFailed' };
    return 'forward';
  };
}

/** A fresh repository with `origin` pointing at `prefix` in the test bucket. */
export async function initWithRemote(s3: { bucket: string; endpoint: string }, env: Env, prefix: string): Promise<string> {
  const dir = tempDir();
  await dvOk(dir, ['init'], env);
  await dvOk(dir, ['remote', 'add', 'origin', `s3://${s3.bucket}/${prefix}`, '--endpoint', s3.endpoint], env);
  return dir;
}

/** For a test file: starts s3rver before its tests, stops it and removes temp dirs after.
 * Read `suite.s3` and `suite.env` inside tests (they are set by then). */
export function useS3Server(): { s3: S3TestServer; env: Env } {
  const suite = {} as { s3: S3TestServer; env: Env };
  beforeAll(async () => {
    suite.s3 = await startS3Server();
    suite.env = dvEnv(suite.s3);
  });
  afterAll(async () => {
    await suite.s3?.stop();
    removeTempDirs();
  });
  return suite;
}

// The job-side half of `data: s3`: a program with no imports beyond Node's own
// modules, shipped inside what dv submits (the sbatch script, the pod command) so a
// node needs nothing but `node` (18+) on its PATH: no dv, no aws CLI, no shared
// filesystem. `node job-io.mjs run SPEC...` (a datum's JSON each, run in turn) downloads the datum's
// inputs from dv serve with the job key in AWS_* (SigV4 signed here, with the session
// token), runs the command with ${in}/${out} in a scratch directory, then uploads
// its outputs, and last a status file with each output's SHA-256 and size (and the
// command's stdout and stderr), which the coordinating dv run checks against what arrived.
// Commands find it as $DV_JOB_IO (`node "$DV_JOB_IO" get s3://... FILE` fetches with
// the job's key). The compiled file is read as text by served-data.ts; keep it free of imports
// from the project. JOB_IO_CORRUPT=1 flips a byte of each uploaded output after
// it was hashed (how the tests show the coordinator catches a mismatch).
import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { dirname, join } from 'node:path';

export interface JobIoSpec {
  /** s3://bucket/commit/ prefix the inputs are read from. */
  from: string;
  /** Project-relative files or directories to download into `root`. */
  inputs: string[];
  /** s3://bucket/branch/batch/i: where outputs (`/o/...`) and the status (`.json`) go. */
  to: string;
  /** Scratch directory: root (`w`) and outputs (`o`) below it. */
  scratch: string;
  outs: string[];
  cmd: string;
  cwd: string;
  env: Record<string, string>;
  dirs: string[];
}

const env = process.env;
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const hmac = (k: Buffer | string, s: string): Buffer => createHmac('sha256', k).update(s).digest();
const enc = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function parseS3(url: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new Error(`not an s3:// URL: ${url}`);
  return { bucket: m[1]!, key: m[2]! };
}

/** A file sent as a request body, streamed (its hash taken in a first pass). */
interface FileBody { path: string; size: number; sha256: string }

/** SHA-256 and size of a file, read as a stream (outputs may not fit in memory). */
async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const b of createReadStream(path)) {
    h.update(b as Buffer);
    size += (b as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

/**
 * One SigV4-signed request to the endpoint (path-style), the payload hash signed. The
 * response body is returned, or streamed to `dest` (inputs may not fit in memory).
 */
async function s3(method: string, bucket: string, key: string, query: Record<string, string>, body?: Buffer | FileBody, dest?: string): Promise<Buffer> {
  const endpoint = new URL(env.DV_ENDPOINT ?? env.AWS_ENDPOINT_URL ?? '');
  const region = env.AWS_REGION ?? 'us-east-1';
  const path = `/${bucket}/${key.split('/').map(enc).join('/')}`;
  const qs = Object.keys(query).sort().map((k) => `${enc(k)}=${enc(query[k]!)}`).join('&');
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const payload = body === undefined ? sha256('') : Buffer.isBuffer(body) ? sha256(body) : body.sha256;
  const headers: Record<string, string> = { host: endpoint.host, 'x-amz-content-sha256': payload, 'x-amz-date': amzDate };
  if (env.AWS_SESSION_TOKEN) headers['x-amz-security-token'] = env.AWS_SESSION_TOKEN;
  const names = Object.keys(headers).sort();
  const canonical = [method, path, qs, ...names.map((n) => `${n}:${headers[n]}`), '', names.join(';'), payload].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key4 = hmac(hmac(hmac(hmac(`AWS4${env.AWS_SECRET_ACCESS_KEY}`, day), region), 's3'), 'aws4_request');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${env.AWS_ACCESS_KEY_ID}/${scope}, SignedHeaders=${names.join(';')}, Signature=${hmac(key4, toSign).toString('hex')}`;
  delete headers.host;
  for (let attempt = 1; ; attempt++) {
    try {
      const send = body === undefined || Buffer.isBuffer(body) ? body
        : { body: Readable.toWeb(createReadStream(body.path)) as unknown as ReadableStream, length: String(body.size) };
      const init: RequestInit & { duplex?: 'half' } = send && !Buffer.isBuffer(send)
        ? { method, headers: { ...headers, 'content-length': send.length }, body: send.body, duplex: 'half' }
        : { method, headers, body: send };
      const res = await fetch(`${endpoint.origin}${path}${qs ? `?${qs}` : ''}`, init);
      if (res.ok && dest && res.body) {
        await pipeline(Readable.fromWeb(res.body as never), createWriteStream(dest));
        return Buffer.alloc(0);
      }
      const buf = Buffer.from(await res.arrayBuffer());
      if (res.ok) return buf;
      const code = /<Code>([^<]*)<\/Code>/.exec(buf.toString())?.[1] ?? '';
      const err = new Error(`${method} s3://${bucket}/${key}: HTTP ${res.status} ${code}`) as Error & { fatal?: boolean };
      err.fatal = res.status < 500;
      throw err;
    } catch (e) {
      if ((e as { fatal?: boolean }).fatal || attempt >= 4) throw e;
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
  }
}

/** Every key under `prefix` (ListObjectsV2, all pages). */
async function list(bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const xml = (await s3('GET', bucket, '', { 'list-type': '2', prefix, ...(token ? { 'continuation-token': token } : {}) })).toString();
    for (const m of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(m[1]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&'));
    token = /<IsTruncated>true<\/IsTruncated>/.test(xml) ? /<NextContinuationToken>([^<]*)</.exec(xml)?.[1] : undefined;
  } while (token);
  return keys;
}

/** Downloads a file, or every file under a directory, of the input version into `root`. */
async function download(from: string, rel: string, root: string): Promise<void> {
  const { bucket, key } = parseS3(from);
  const base = key.replace(/\/$/, '');
  const keys = (await list(bucket, `${base}/${rel}`)).filter((k) => k === `${base}/${rel}` || k.startsWith(`${base}/${rel}/`));
  for (const k of keys) {
    if (k.endsWith('/')) continue; // a directory marker
    const dest = join(root, k.slice(base.length + 1));
    mkdirSync(dirname(dest), { recursive: true });
    await s3('GET', bucket, k, {}, undefined, dest);
  }
}

function walk(abs: string, rel: string, out: { rel: string; abs: string }[]): void {
  let st;
  try { st = statSync(abs); } catch { return; }
  if (st.isFile()) out.push({ rel, abs });
  else if (st.isDirectory()) for (const e of readdirSync(abs).sort()) walk(join(abs, e), `${rel}/${e}`, out);
}

function runCmd(spec: JobIoSpec, env2: Record<string, string>): Promise<{ rc: number; out: Buffer; err: Buffer }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', spec.cmd], { cwd: spec.cwd, env: { ...process.env, ...env2, DV_JOB_IO: process.argv[1]! }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => { out.push(b); process.stdout.write(b); });
    child.stderr.on('data', (b: Buffer) => { err.push(b); process.stderr.write(b); });
    child.on('error', (e) => { err.push(Buffer.from(`${e.message}\n`)); });
    child.on('close', (code, signal) => resolve({ rc: code ?? (signal ? 128 + 9 : 1), out: Buffer.concat(out), err: Buffer.concat(err) }));
  });
}

export async function runJob(spec: JobIoSpec): Promise<number> {
  const start = Date.now();
  rmSync(spec.scratch, { recursive: true, force: true });
  const root = join(spec.scratch, 'w');
  mkdirSync(root, { recursive: true });
  for (const d of spec.dirs) mkdirSync(d, { recursive: true });
  for (const rel of spec.inputs) await download(spec.from, rel, root);
  const r = await runCmd(spec, spec.env);
  const to = parseS3(spec.to);
  const outputs: { path: string; size: number; sha256: string; mode: number }[] = [];
  if (r.rc === 0) {
    const files: { rel: string; abs: string }[] = [];
    for (const o of spec.outs) walk(join(spec.scratch, 'o', o), o, files);
    for (const f of files) {
      const h = await hashFile(f.abs);
      outputs.push({ path: f.rel, size: h.size, sha256: h.sha256, mode: statSync(f.abs).mode & 0o111 ? 0o755 : 0o644 });
      let body: Buffer | FileBody = { path: f.abs, ...h };
      if ((env.JOB_IO_CORRUPT ?? spec.env.JOB_IO_CORRUPT) === '1' && h.size) {
        body = readFileSync(f.abs);
        body[0] ^= 0xff;
      }
      await s3('PUT', to.bucket, `${to.key}/o/${f.rel}`, {}, body);
    }
  }
  // The logs ride in the status (their last MiB): one upload, one commit on the branch, fewer round trips.
  const tail = (b: Buffer): string => b.subarray(Math.max(0, b.length - (1 << 20))).toString('base64');
  const status = { rc: r.rc, start, end: Date.now(), outputs, stdout: tail(r.out), stderr: tail(r.err) };
  await s3('PUT', to.bucket, `${to.key}.json`, {}, Buffer.from(JSON.stringify(status)));
  rmSync(spec.scratch, { recursive: true, force: true });
  return r.rc;
}

const [, self, verb, arg, dest] = process.argv;
if (verb === 'get' && arg && dest) {
  // For commands that fetch more with the job's key: node "$DV_JOB_IO" get s3://bucket/ref/path FILE
  const { bucket, key } = parseS3(arg);
  s3('GET', bucket, key, {}, undefined, dest).then(() => undefined, (e: Error) => {
    process.stderr.write(`dv job-io: ${e.message}\n`);
    process.exit(1);
  });
} else if (verb === 'run' && arg && self && !self.endsWith('.ts')) {
  // Each datum of the batch in turn; the exit status is the last failure's (0 when all succeeded).
  (async () => {
    let status = 0;
    for (const a of process.argv.slice(3)) {
      try {
        const rc = await runJob(JSON.parse(a.startsWith('{') ? a : Buffer.from(a, 'base64').toString('utf8')) as JobIoSpec);
        if (rc !== 0) status = rc;
      } catch (e) {
        process.stderr.write(`dv job-io: ${(e as Error).message}\n`);
        status = 70;
      }
    }
    process.exit(status);
  })();
}

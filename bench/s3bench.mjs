#!/usr/bin/env node
// The S3 client of bench/serve.sh: one lean client (node:http keep-alive sockets,
// SigV4 by @smithy/signature-v4, the signer inside the AWS SDK) used unchanged
// against dv serve and s3rver, so the figures compare servers, not clients.
// Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Usage:
//   s3bench.mjs get   ENDPOINT BUCKET KEY [RUNS]                -> median MiB/s of full GETs
//   s3bench.mjs range ENDPOINT BUCKET KEY START LENGTH [RUNS]   -> median ms of one Range GET
//   s3bench.mjs list  ENDPOINT BUCKET PREFIX                    -> "<keys> <seconds>" (ListObjectsV2, pages of 1000)
//   s3bench.mjs rps   ENDPOINT BUCKET PREFIX CLIENTS SECONDS MAXREQ -> requests/s of GETs of the keys under PREFIX
//   s3bench.mjs page  ENDPOINT BUCKET PREFIX START_AFTER [RUNS]  -> "<keys> <median ms>" of one page of 1000 keys
import http from 'node:http';
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

class Sha256 {
  constructor(secret) { this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', Buffer.from(secret)); }
  update(d) { this.h.update(typeof d === 'string' ? Buffer.from(d) : Buffer.from(d.buffer ?? d, d.byteOffset ?? 0, d.byteLength)); }
  async digest() { return new Uint8Array(this.h.digest()); }
  reset() {}
}

const [cmd, endpoint, bucket, ...rest] = process.argv.slice(2);
if (!cmd || !endpoint || !bucket) { console.error('usage: s3bench.mjs get|range|list|rps ENDPOINT BUCKET ...'); process.exit(2); }
const base = new URL(endpoint);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const signer = new SignatureV4({
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY },
  region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false,
});
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Signed request; resolves with status and, unless `drain`, the body. */
async function request(key, query = {}, headers = {}, drain = false) {
  const path = `/${bucket}/${key.split('/').map(enc).join('/')}`;
  const host = base.host;
  const signed = await signer.sign({
    method: 'GET', protocol: 'http:', hostname: base.hostname, port: Number(base.port), path, query,
    headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...headers },
  });
  const qs = Object.entries(query).map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
  return new Promise((resolve, reject) => {
    const req = http.request({ host: base.hostname, port: base.port, path: qs ? `${path}?${qs}` : path, headers: signed.headers, agent }, (res) => {
      let bytes = 0;
      const parts = [];
      res.on('data', (d) => { bytes += d.length; if (!drain) parts.push(d); });
      res.on('end', () => (res.statusCode >= 300
        ? reject(new Error(`${res.statusCode} for ${path}: ${Buffer.concat(parts).toString().slice(0, 300)}`))
        : resolve({ bytes, body: drain ? null : Buffer.concat(parts).toString() })));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function listAll(prefix) {
  const keys = [];
  let token;
  do {
    const q = { 'list-type': '2', 'max-keys': '1000', prefix };
    if (token) q['continuation-token'] = token;
    // The bucket itself is the object: path /bucket/ with an empty key.
    const { body } = await request('', q);
    for (const m of body.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(m[1]);
    token = /<IsTruncated>true<\/IsTruncated>/.test(body) ? /<NextContinuationToken>([^<]*)</.exec(body)?.[1] : undefined;
  } while (token);
  return keys;
}

if (cmd === 'get') {
  const [key, runs = '3'] = rest;
  const rates = [];
  for (let i = 0; i < Number(runs); i++) {
    const t0 = process.hrtime.bigint();
    const { bytes } = await request(key, {}, {}, true);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(bytes / 1048576 / s);
  }
  console.log(median(rates).toFixed(1));
} else if (cmd === 'range') {
  const [key, start, length, runs = '50'] = rest;
  const end = Number(start) + Number(length) - 1;
  const ms = [];
  for (let i = 0; i < Number(runs); i++) {
    const t0 = process.hrtime.bigint();
    const { bytes } = await request(key, {}, { range: `bytes=${start}-${end}` }, true);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (bytes !== Number(length)) throw new Error(`range returned ${bytes} bytes`);
  }
  console.log(median(ms).toFixed(2));
} else if (cmd === 'list') {
  const [prefix = ''] = rest;
  const t0 = process.hrtime.bigint();
  const keys = await listAll(prefix);
  console.log(`${keys.length} ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(3)}`);
} else if (cmd === 'page') {
  const [prefix = '', startAfter = '', runs = '5'] = rest;
  const ms = [];
  let n = 0;
  for (let i = 0; i < Number(runs); i++) {
    const q = { 'list-type': '2', 'max-keys': '1000', prefix, ...(startAfter ? { 'start-after': startAfter } : {}) };
    const t0 = process.hrtime.bigint();
    const { body } = await request('', q);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    n = [...body.matchAll(/<Key>/g)].length;
  }
  console.log(`${n} ${median(ms).toFixed(2)}`);
} else if (cmd === 'rps') {
  const [prefix, clients = '16', seconds = '10', maxReq = '200000'] = rest;
  const keys = await listAll(prefix);
  if (!keys.length) throw new Error(`no keys under ${prefix}`);
  for (const k of keys.slice(0, 50)) await request(k, {}, {}, true); // warm sockets and caches
  let done = 0;
  let i = 0;
  const deadline = Date.now() + Number(seconds) * 1000;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Number(clients) }, async () => {
    while (Date.now() < deadline && done < Number(maxReq)) {
      await request(keys[i++ % keys.length], {}, {}, true);
      done++;
    }
  }));
  console.log((done / (Number(process.hrtime.bigint() - t0) / 1e9)).toFixed(0));
} else {
  console.error(`unknown command ${cmd}`);
  process.exit(2);
}
agent.destroy();

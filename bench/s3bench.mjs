#!/usr/bin/env node
// The S3 client of bench/serve.sh: one lean client (node:http keep-alive sockets,
// SigV4 by @smithy/signature-v4, the signer inside the AWS SDK) used unchanged
// against dv serve and s3rver, so the figures compare servers, not clients.
// Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Usage:
//   s3bench.mjs get   ENDPOINT BUCKET KEY [RUNS]                -> median MiB/s of full GETs
//   s3bench.mjs range ENDPOINT BUCKET KEY START LENGTH [RUNS] [WARM] -> median ms of one Range GET
//   s3bench.mjs list  ENDPOINT BUCKET PREFIX                    -> "<keys> <seconds>" (ListObjectsV2, pages of 1000)
//   s3bench.mjs rps   ENDPOINT BUCKET PREFIX CLIENTS SECONDS MAXREQ -> requests/s of GETs of the keys under PREFIX
//   s3bench.mjs page  ENDPOINT BUCKET PREFIX START_AFTER [RUNS] [WARM] -> "<keys> <median ms>" of one page of 1000 keys
//   s3bench.mjs vs ENDPOINT BUCKET ENDPOINT_B BUCKET_B RUNS WARM OP ARGS...
//     -> "<keys or bytes A> <keys or bytes B> <median ms A> <median ms B>": the same request to
//     two servers, alternating sample by sample (A first on even samples, B on odd), so both
//     share the client's state and the machine's load of the moment. B's credentials:
//     B_ACCESS_KEY_ID / B_SECRET_ACCESS_KEY. OP ARGS:
//       page PREFIX START_AFTER START_AFTER_B        one page of 1000 keys
//       range KEY KEY_B START LENGTH                 one Range GET
//       fresh PREFIX AFTER_A1,AFTER_A2,.. AFTER_B1,..  pages each listed once, at positions the
//         server never listed (first touch); RUNS is their count, WARM the first page of PREFIX
// WARM: requests sent first, untimed (the first page of PREFIX for `pages`): a fresh client
// process pays its own JIT and its connection on its first requests, and a fresh server
// its JIT on its first ~10 pages, so samples taken without warm-up measure start-up.
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
if (!cmd || !endpoint || !bucket) { console.error('usage: s3bench.mjs get|range|list|page|vs|rps ENDPOINT BUCKET ...'); process.exit(2); }
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The signed-request function of one server: request(key, query, headers, drain)
 * resolves with the status and, unless `drain`, the body. */
function client(endpoint, bucket, accessKeyId, secretAccessKey) {
  const base = new URL(endpoint);
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey }, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false,
  });
  return async function request(key, query = {}, headers = {}, drain = false) {
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
  };
}

const request = client(endpoint, bucket, process.env.AWS_ACCESS_KEY_ID, process.env.AWS_SECRET_ACCESS_KEY);

/** One ListObjectsV2 page of up to 1000 keys under `prefix`, after `startAfter` if set. */
const page = (req, prefix, startAfter) =>
  req('', { 'list-type': '2', 'max-keys': '1000', prefix, ...(startAfter ? { 'start-after': startAfter } : {}) });
const keysIn = (body) => [...body.matchAll(/<Key>/g)].length;

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
  const [key, start, length, runs = '50', warm = '0'] = rest;
  const end = Number(start) + Number(length) - 1;
  const ms = [];
  for (let i = -Number(warm); i < Number(runs); i++) {
    const t0 = process.hrtime.bigint();
    const { bytes } = await request(key, {}, { range: `bytes=${start}-${end}` }, true);
    if (i >= 0) ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (bytes !== Number(length)) throw new Error(`range returned ${bytes} bytes`);
  }
  console.log(median(ms).toFixed(2));
} else if (cmd === 'list') {
  const [prefix = ''] = rest;
  const t0 = process.hrtime.bigint();
  const keys = await listAll(prefix);
  console.log(`${keys.length} ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(3)}`);
} else if (cmd === 'page') {
  const [prefix = '', startAfter = '', runs = '5', warm = '0'] = rest;
  const ms = [];
  let n = 0;
  for (let i = -Number(warm); i < Number(runs); i++) {
    const t0 = process.hrtime.bigint();
    const { body } = await page(request, prefix, startAfter);
    if (i >= 0) ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    n = keysIn(body);
  }
  console.log(`${n} ${median(ms).toFixed(2)}`);
} else if (cmd === 'vs') {
  const [endpointB, bucketB, runs, warm, op, ...args] = rest;
  const sides = [request, client(endpointB, bucketB, process.env.B_ACCESS_KEY_ID, process.env.B_SECRET_ACCESS_KEY)];
  let n = Number(runs);
  let one; // one(side, i): keys or bytes of sample i (i < 0: warm-up)
  if (op === 'page') {
    const [prefix, ...after] = args;
    one = async (s) => keysIn((await page(sides[s], prefix, after[s])).body);
  } else if (op === 'range') {
    const [keyA, keyB, start, length] = args;
    const range = `bytes=${start}-${Number(start) + Number(length) - 1}`;
    one = async (s) => (await sides[s]([keyA, keyB][s], {}, { range }, true)).bytes;
  } else if (op === 'fresh') {
    const [prefix, a, b] = args;
    const at = [a, b].map((l) => l.split(',').filter(Boolean));
    n = at[0].length;
    one = async (s, i) => keysIn((await page(sides[s], prefix, i < 0 ? '' : at[s][i])).body);
  } else {
    console.error(`unknown vs operation ${op}`);
    process.exit(2);
  }
  const ms = [[], []];
  const got = [Infinity, Infinity];
  for (let i = -Number(warm); i < n; i++) {
    for (const s of i & 1 ? [1, 0] : [0, 1]) {
      const t0 = process.hrtime.bigint();
      const k = await one(s, i);
      if (i < 0) continue;
      ms[s].push(Number(process.hrtime.bigint() - t0) / 1e6);
      got[s] = Math.min(got[s], k);
    }
  }
  console.log(`${got[0]} ${got[1]} ${median(ms[0]).toFixed(2)} ${median(ms[1]).toFixed(2)}`);
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

#!/usr/bin/env node
// s3rver on a loopback port for bench/remote.sh. Prints the endpoint URL on its first
// stdout line, then serves until SIGTERM/SIGINT. Usage:
//   s3rver.mjs DIR [--bucket NAME]... [--log FILE]
// --log appends one line per request: "<METHOD> <path> <content-length>", which the
// bench sums to count requests and uploaded bytes.
import fs from 'node:fs';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');
const args = process.argv.slice(2);
const dir = args[0];
if (!dir) { console.error('usage: s3rver.mjs DIR [--bucket NAME]... [--log FILE]'); process.exit(2); }
const buckets = args.flatMap((a, i) => (a === '--bucket' ? [args[i + 1]] : []));
const logIdx = args.indexOf('--log');
const log = logIdx >= 0 ? fs.createWriteStream(args[logIdx + 1], { flags: 'a' }) : null;

// s3rver encrypts list continuation tokens with single DES, which OpenSSL 3 lacks
// outside its legacy provider; 3DES with the key repeated is DES (see
// tests/helpers/s3server.ts for the same shim).
for (const name of ['createCipheriv', 'createDecipheriv']) {
  const orig = crypto[name].bind(crypto);
  crypto[name] = (alg, key, iv, opts) => (String(alg).toLowerCase() === 'des' && key.length === 8
    ? orig('des-ede3-cbc', Buffer.concat([key, key, key]), iv, opts) : orig(alg, key, iv, opts));
}

fs.mkdirSync(dir, { recursive: true });
const server = new S3rver({
  address: '127.0.0.1', port: 0, directory: dir, silent: true, vhostBuckets: false,
  configureBuckets: (buckets.length ? buckets : ['bench']).map((name) => ({ name, configs: [] })),
});
const address = await server.run();
if (log) server.httpServer.on('request', (req) => log.write(`${req.method} ${req.url} ${req.headers['content-length'] ?? 0}\n`));
console.log(`http://127.0.0.1:${address.port}`);
const stop = async () => { server.httpServer.closeAllConnections(); await server.close(); log?.end(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

#!/usr/bin/env node
// Deterministic random trees for benchmarks: AES-CTR keystream from a fixed seed, so every
// run (and the reference tools) sees identical bytes. Usage:
//   gen-tree.mjs DIR --files N --size BYTES [--big N --big-size BYTES] [--seed S] [--fanout K]
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const args = process.argv.slice(2);
const dir = args[0];
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? def : Number(args[i + 1]);
};
if (!dir) { console.error('usage: gen-tree.mjs DIR --files N --size BYTES [--big N --big-size BYTES] [--seed S] [--fanout K]'); process.exit(2); }
const files = opt('files', 0), size = opt('size', 0), big = opt('big', 0), bigSize = opt('big-size', 0);
const seed = opt('seed', 1), fanout = opt('fanout', 1000);

function stream(id) {
  const key = crypto.createHash('sha256').update(`dv-bench-${seed}-${id}`).digest().subarray(0, 16);
  return crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
}
const zeros = Buffer.alloc(1 << 20);
function writeRandom(file, bytes, id) {
  const c = stream(id);
  const fd = fs.openSync(file, 'w');
  for (let left = bytes; left > 0; left -= zeros.length) fs.writeSync(fd, c.update(zeros.subarray(0, Math.min(left, zeros.length))));
  fs.closeSync(fd);
}
fs.mkdirSync(dir, { recursive: true });
for (let i = 0; i < files; i++) {
  const sub = path.join(dir, `d${String(Math.floor(i / fanout)).padStart(3, '0')}`);
  if (i % fanout === 0) fs.mkdirSync(sub, { recursive: true });
  writeRandom(path.join(sub, `f${String(i).padStart(6, '0')}.bin`), size, `f${i}`);
}
for (let i = 0; i < big; i++) writeRandom(path.join(dir, `big${i}.bin`), bigSize, `big${i}`);

// Boundary-finding throughput of src/store/chunker.ts with the default parameters: cut()
// (the C loop of native/cdc.c when the addon is built) and the JavaScript loop (jsCut).
// Node 20 cannot run TypeScript directly, so compile to a scratch dir first, then run it
// from the repository root (it loads the built dist/, whose addon path resolves there):
//   npx tsc --outDir /tmp/dv-bench --module nodenext --target es2022 --types node --skipLibCheck \
//     bench/chunker-throughput.ts && echo '{"type":"module"}' > /tmp/dv-bench/package.json &&
//   node /tmp/dv-bench/bench/chunker-throughput.js
// Prints one line per loop: `chunker MB/s (native|js): N`, best of several passes over
// 256 MiB of random bytes, per CPU second (the machine is shared: wall time is not ours).
import { randomFillSync } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

type Chunker = typeof import('../src/store/chunker.js');
const { cut, jsCut, DEFAULT_CHUNKER, nativeCdcActive } =
  (await import(pathToFileURL(path.resolve('dist/store/chunker.js')).href)) as Chunker;

const SIZE = 256 * 1024 * 1024;
const PASSES = 5;

const data = Buffer.allocUnsafe(SIZE);
// randomFillSync caps one call at 2^31-1 bytes; fill in slices to stay portable.
for (let off = 0; off < SIZE; off += 1 << 24) randomFillSync(data, off, Math.min(1 << 24, SIZE - off));

function lengths(f: Chunker['cut'], buf: Buffer): number {
  let total = 0;
  for (let off = 0; off < buf.length;) {
    const n = f(buf, off, buf.length, DEFAULT_CHUNKER);
    total += n;
    off += n;
  }
  return total;
}

function best(f: Chunker['cut']): number {
  lengths(f, data.subarray(0, 16 << 20)); // let the JIT settle first
  let top = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    const t0 = process.cpuUsage();
    if (lengths(f, data) !== SIZE) throw new Error('chunk lengths do not add up');
    const used = process.cpuUsage(t0);
    top = Math.max(top, SIZE / (used.user + used.system)); // bytes per microsecond = MB/s
  }
  return Math.round(top);
}

if (nativeCdcActive) console.log(`chunker MB/s (native): ${best(cut)}`);
else console.log('chunker MB/s (native): - (the addon is not built)');
console.log(`chunker MB/s (js): ${best(jsCut)}`);

// Boundary-finding throughput of src/store/chunker.ts with the default parameters.
// Node 20 cannot run TypeScript directly, so compile to a scratch dir first:
//   npx tsc --outDir /tmp/dv-bench --module nodenext --target es2022 --types node --skipLibCheck \
//     bench/chunker-throughput.ts && echo '{"type":"module"}' > /tmp/dv-bench/package.json &&
//   node /tmp/dv-bench/bench/chunker-throughput.js
// Prints one line: `chunker MB/s: N` (best of several passes over 256 MiB of random bytes).
import { randomFillSync } from 'node:crypto';
import { chunkLengths, DEFAULT_CHUNKER } from '../src/store/chunker.js';

const SIZE = 256 * 1024 * 1024;
const PASSES = 5;

const data = Buffer.allocUnsafe(SIZE);
// randomFillSync caps one call at 2^31-1 bytes; fill in slices to stay portable.
for (let off = 0; off < SIZE; off += 1 << 24) randomFillSync(data, off, Math.min(1 << 24, SIZE - off));

chunkLengths(data.subarray(0, 16 << 20), DEFAULT_CHUNKER); // let the JIT settle first

let best = 0;
for (let pass = 0; pass < PASSES; pass++) {
  const t0 = process.hrtime.bigint();
  const lengths = chunkLengths(data, DEFAULT_CHUNKER);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (lengths.reduce((a, b) => a + b, 0) !== SIZE) throw new Error('chunk lengths do not add up');
  best = Math.max(best, SIZE / 1e6 / seconds);
}
console.log(`chunker MB/s: ${Math.round(best)}`);

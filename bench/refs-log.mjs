// The cost of .dv/refs.log (issue 16): time per ref update with the log (append +
// fdatasync) against SQLite alone, in one repository, alternating, median of 3 rounds
// of 300 updates each. Run: node bench/refs-log.mjs (after npx tsc; ~30 s).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Repo } from '../dist/repo/repo.js';
import { Refs } from '../dist/repo/refs.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dv-bench-refslog-'));
const repo = Repo.init(dir);
const id = (i) => i.toString(16).padStart(64, '0');
let n = 0;
const round = (refs) => {
  const t = process.hrtime.bigint();
  for (let i = 0; i < 300; i++) refs.set('heads/bench', id(++n), 'bench');
  return Number(process.hrtime.bigint() - t) / 1e6 / 300;
};
const plain = [];
const logged = [];
for (let r = 0; r < 3; r++) {
  plain.push(round(new Refs(repo.db)));
  logged.push(round(repo.refs));
}
const median = (xs) => xs.sort((a, b) => a - b)[1].toFixed(2);
console.log(`ref update with .dv/refs.log: ${median(logged)} ms vs SQLite alone ${median(plain)} ms (median of 3 x 300)`);
repo.close();
fs.rmSync(dir, { recursive: true, force: true });

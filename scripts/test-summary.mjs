// Prints vitest's JSON report as the plain closing line CI reads: "N passed, N failed, N skipped",
// preceded by the ten slowest test files, so the suite's time budget (15 min on 2 cores) can be
// watched from any CI log.
import fs from 'node:fs';
import path from 'node:path';
const file = process.argv[2];
const r = JSON.parse(fs.readFileSync(file, 'utf8'));
const files = (r.testResults ?? [])
  .map((t) => ({ name: path.relative(process.cwd(), t.name), ms: (t.endTime ?? 0) - (t.startTime ?? 0) }))
  .sort((a, b) => b.ms - a.ms);
if (files.length > 0) {
  console.log('slowest test files:');
  for (const f of files.slice(0, 10)) console.log(`  ${(f.ms / 1000).toFixed(1).padStart(7)} s  ${f.name}`);
}
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);

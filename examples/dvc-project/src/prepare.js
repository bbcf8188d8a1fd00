// prepare: split the raw rows into train and test sets (deterministic shuffle by seed).
const fs = require('fs');
const p = require('./params.js')().prepare;
const [src, outDir] = process.argv.slice(2);
const rows = fs.readFileSync(src, 'utf8').trim().split('\n').slice(1);
let s = p.seed;
const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
const order = rows.map((r) => [rand(), r]).sort((a, b) => a[0] - b[0]).map((x) => x[1]);
const nTest = Math.round(order.length * p.split);
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(`${outDir}/test.csv`, 'x,y\n' + order.slice(0, nTest).join('\n') + '\n');
fs.writeFileSync(`${outDir}/train.csv`, 'x,y\n' + order.slice(nTest).join('\n') + '\n');

// featurize: polynomial features x^1..x^degree for each split.
const fs = require('fs');
const { degree } = require('./params.js')().featurize;
const [inDir, outDir] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
for (const split of ['train', 'test']) {
  const rows = fs.readFileSync(`${inDir}/${split}.csv`, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
  const head = [...Array(degree).keys()].map((i) => `f${i + 1}`).concat('y').join(',');
  const lines = rows.map(([x, y]) => [...Array(degree).keys()].map((i) => (x ** (i + 1)).toFixed(6)).concat(String(y)).join(','));
  fs.writeFileSync(`${outDir}/${split}.csv`, head + '\n' + lines.join('\n') + '\n');
}

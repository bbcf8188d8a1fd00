// train: linear model on the features by gradient descent; writes the model and the loss per epoch.
const fs = require('fs');
const { lr, epochs } = require('./params.js')().train;
const [featDir, modelOut] = process.argv.slice(2);
const rows = fs.readFileSync(`${featDir}/train.csv`, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
const k = rows[0].length - 1;
const w = new Array(k + 1).fill(0); // bias last
const loss = [];
for (let e = 1; e <= epochs; e++) {
  const g = new Array(k + 1).fill(0);
  let l = 0;
  for (const r of rows) {
    const pred = r.slice(0, k).reduce((s, f, i) => s + f * w[i], w[k]);
    const err = pred - r[k];
    l += err * err;
    for (let i = 0; i < k; i++) g[i] += (2 * err * r[i]) / rows.length;
    g[k] += (2 * err) / rows.length;
  }
  for (let i = 0; i <= k; i++) w[i] -= lr * g[i];
  if (e % 10 === 0) loss.push(`${e},${(l / rows.length).toFixed(6)}`);
}
fs.writeFileSync(modelOut, JSON.stringify({ weights: w.map((x) => Number(x.toFixed(6))) }) + '\n');
fs.mkdirSync('eval', { recursive: true });
fs.writeFileSync('eval/loss.csv', 'epoch,loss\n' + loss.join('\n') + '\n');

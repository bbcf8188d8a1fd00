// evaluate: metrics (mse, r2) on the test split and the predictions for a scatter plot.
const fs = require('fs');
const [modelFile, featDir, outDir] = process.argv.slice(2);
const { weights: w } = JSON.parse(fs.readFileSync(modelFile, 'utf8'));
const rows = fs.readFileSync(`${featDir}/test.csv`, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
const k = w.length - 1;
const preds = rows.map((r) => r.slice(0, k).reduce((s, f, i) => s + f * w[i], w[k]));
const ys = rows.map((r) => r[k]);
const mean = ys.reduce((a, b) => a + b, 0) / ys.length;
const sse = ys.reduce((s, y, i) => s + (y - preds[i]) ** 2, 0);
const sst = ys.reduce((s, y) => s + (y - mean) ** 2, 0);
fs.mkdirSync(outDir, { recursive: true });
const metrics = { mse: Number((sse / ys.length).toFixed(6)), r2: Number((1 - sse / sst).toFixed(6)) };
fs.writeFileSync(`${outDir}/metrics.json`, JSON.stringify(metrics, null, 2) + '\n');
fs.writeFileSync(`${outDir}/predictions.csv`, 'actual,predicted\n' + ys.map((y, i) => `${y},${preds[i].toFixed(4)}`).join('\n') + '\n');

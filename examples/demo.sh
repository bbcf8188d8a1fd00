#!/usr/bin/env bash
# A guided tour on a built-in example: versions a small weather dataset, edits it,
# inspects and restores versions. Runs in a temporary directory; touches nothing else.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dv() { node "$ROOT/bin/dv.js" "$@"; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "dv $*"; dv "$@"; }

WORK=$(mktemp -d /tmp/dv-demo-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export DV_AUTHOR="demo <demo@example.com>"

mkdir -p data/stations
for s in alpha beta gamma; do
  { echo "date,station,temp_c"; for d in 01 02 03 04 05; do echo "2024-01-$d,$s,$(( (RANDOM % 300) / 10 - 5 ))"; done; } > "data/stations/$s.csv"
done
node -e "process.stdout.write(require('crypto').randomBytes(3<<20))" > data/radar.bin
echo "date,station,temp_c" > data/a.csv; echo "2024-01-01,alpha,3" >> data/a.csv

run init
run add data/ -m "raw drop 1"
step "edit data/a.csv, add data/stations/delta.csv, delete data/stations/gamma.csv, insert 1 byte into data/radar.bin"
echo "2024-01-02,alpha,4" >> data/a.csv
cp data/stations/alpha.csv data/stations/delta.csv && sed -i 's/alpha/delta/' data/stations/delta.csv
rm data/stations/gamma.csv
{ printf 'X'; cat data/radar.bin; } > radar.tmp && mv radar.tmp data/radar.bin
run status
run commit -m "drop 2"
run log --oneline
run diff HEAD~1 HEAD
run checkout HEAD~1
step "cat data/a.csv   # drop 1 again"; cat data/a.csv
run checkout main
run ls HEAD:data/
run cat HEAD~1:data/a.csv
run branch staging
run tag v1
run export v1:data -o v1.tar
run import v1.tar restored/
step "diff -r data restored && echo identical"; diff -r data restored && echo identical
run gc
run fsck
step "du -sh .dv/packs   # 2 versions of a 3 MiB binary + CSVs, deduplicated"; du -sh .dv/packs

# Pipelines: one datum per station file; only changed stations are processed again.
cat > clean.js <<'JS'
// Drops rows with a missing temperature; logs which file it processed.
const fs = require('fs');
const [src, dst] = process.argv.slice(2);
const rows = fs.readFileSync(src, 'utf8').trim().split('\n');
fs.writeFileSync(dst, rows.filter((r) => !r.endsWith(',')).join('\n') + '\n');
fs.appendFileSync('clean.log', src + '\n');
JS
cat > summarize.js <<'JS'
const fs = require('fs'), path = require('path');
const [dir, out] = process.argv.slice(2);
const lines = fs.readdirSync(dir).map((f) => {
  const t = fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n').slice(1).map((r) => Number(r.split(',')[2]));
  return `${f},${(t.reduce((a, b) => a + b, 0) / t.length).toFixed(2)}`;
});
fs.writeFileSync(out, 'station,mean_temp_c\n' + lines.join('\n') + '\n');
JS
cat > dv.yaml <<'YAML'
stages:
  clean:
    foreach: data/stations/*.csv
    cmd: node clean.js ${in} ${out}
    deps: [clean.js]
    outs: data/clean/
  summary:
    cmd: node summarize.js data/clean ${out}
    deps: [summarize.js, data/clean]
    outs: [data/summary.csv]
YAML
run dag
run run summary
step "cat data/summary.csv"; cat data/summary.csv
step "edit one station, then run again: only that datum runs"
echo "2024-01-06,alpha,7" >> data/stations/alpha.csv
run run --dry-run
run run
step "cat clean.log   # alpha was processed twice, the others once"; cat clean.log
run runs
run lineage HEAD:data/summary.csv

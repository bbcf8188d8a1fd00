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

#!/usr/bin/env bash
# Figures of the web console issue, measured from Debian's Chromium (bench/ui-bench.mjs):
#   - first page of a 100,000-file directory: API and page (target: under 300 ms)
# Takes about 2-4 minutes (most of it making the data: 100,000 files added, 10,000 datums run).
#   - a 10,000-datum run: API (record, first datum page) and page (first rows, scroll to the end)
# Reference commands on the same data: `dv ls main:<dir> --json` and `dv runs show <id> --json`.
source "$(dirname "$0")/lib.sh"
WORK="$WORK-ui"
rm -rf "$WORK" && mkdir -p "$WORK"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; cd /; rm -rf "$WORK"' EXIT
[ -x /usr/bin/chromium ] || need chromium chromium
[ -f "$ROOT/dist/ui/web/index.html" ] || (cd "$ROOT" && npm run build >/dev/null)

cd "$WORK"
node "$BENCH_DIR/gen-tree.mjs" listing --files 100000 --size 16 --fanout 100000 --seed 5
node "$BENCH_DIR/gen-tree.mjs" inputs --files 10000 --size 16 --fanout 10000 --seed 6
cat > dv.yaml <<'YAML'
stages:
  copy:
    foreach: inputs/d000/*.bin
    cmd: cp ${in} ${out}
    outs: out/
YAML
$DV init -q >/dev/null
$DV add listing inputs -q -m bench >/dev/null
$DV run -q -j 4 >/dev/null
RUN=$($DV runs --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].id))')

ref_ls=$(median_secs 3 $DV ls main:listing/d000 --json)
ref_run=$(median_secs 3 $DV runs show "$RUN" --json)

$DV ui > "$WORK/ui.out" 2> "$WORK/ui.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q 'ui:' "$WORK/ui.out" 2>/dev/null && break; sleep 0.1; done
URL=$(awk '/^ui:/ {print $2}' "$WORK/ui.out")
[ -n "$URL" ] || { echo "dv ui did not start: $(cat "$WORK/ui.err")" >&2; exit 1; }
node "$BENCH_DIR/ui-bench.mjs" "$URL" listing/d000 "$RUN" "$ref_ls" "$ref_run"

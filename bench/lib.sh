# Shared helpers for bench/*.sh. Each figure is printed as one line:
#   <figure>: <dv value> vs <reference> <value> (ratio <x>; target <t>)
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
DV="node $ROOT/bin/dv.js"
WORK=${BENCH_WORK:-/tmp/dv-bench}
export DV_AUTHOR="bench <bench@localhost>"
# A machine may set NODE_EXTRA_CA_CERTS (this one does): Node 20 then parses that CA
# bundle when every process starts, ~100 ms here, before any of dv runs. The benches use
# no TLS (s3rver and dv serve on loopback, plain HTTP), and the references (git, cp,
# restic) pay nothing like it, so dv and the Node references run without it.
unset NODE_EXTRA_CA_CERTS

need() {  # need CMD DEBIAN_PACKAGE
  command -v "$1" >/dev/null 2>&1 && return
  echo "installing $2 (apt)..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2") >/dev/null 2>&1 || { echo "cannot install $2" >&2; exit 1; }
}

now() { date +%s.%N; }
# secs CMD...: wall time of CMD in seconds (output discarded)
secs() { local t0 t1; t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); echo "$t1 - $t0" | bc -l | xargs printf '%.3f'; }
# median_secs N CMD...: median wall time of N runs of CMD
median_secs() { local n=$1; shift; for _ in $(seq "$n"); do secs "$@"; echo; done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

# start_s3rver: s3rver on loopback under $WORK (bench/s3rver.mjs), bucket "bench"; sets
# EP, S3PID and LOG (its request log); removes $WORK and stops it on exit.
start_s3rver() {
  LOG="$WORK/requests.log"
  : > "$LOG"
  node "$BENCH_DIR/s3rver.mjs" "$WORK/s3" --bucket bench --log "$LOG" > "$WORK/endpoint" 2> "$WORK/s3rver.err" &
  S3PID=$!
  trap 'kill $S3PID 2>/dev/null; wait $S3PID 2>/dev/null; cd /; rm -rf "$WORK"' EXIT
  for _ in $(seq 100); do [ -s "$WORK/endpoint" ] && break; sleep 0.1; done
  EP=$(head -1 "$WORK/endpoint")
  [ -n "$EP" ] || { echo "s3rver did not start: $(cat "$WORK/s3rver.err")" >&2; exit 1; }
}

[ -f "$ROOT/dist/cli/main.js" ] || (cd "$ROOT" && npm run build >/dev/null)
need bc bc

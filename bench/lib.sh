# Shared helpers for bench/*.sh. Each figure is printed as one line:
#   <figure>: <dv value> vs <reference> <value> (ratio <x>; target <t>)
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
DV="node $ROOT/bin/dv.js"
WORK=${BENCH_WORK:-/tmp/dv-bench}
export DV_AUTHOR="bench <bench@localhost>"

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

[ -f "$ROOT/dist/cli/main.js" ] || (cd "$ROOT" && npm run build >/dev/null)
need bc bc

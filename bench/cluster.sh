#!/usr/bin/env bash
# Figures of the cluster-executors issue (13):
#   - 1,000 datums of a one-line command (cp) through Slurm with batch 1, 10 and 100,
#     against the local executor in the same script (-j 1 and -j 4): wall time of
#     `dv run -f` and overhead per datum ((wall - local -j 1 wall) / 1000)
#   - read throughput of `dv serve --remote` for 8 concurrent jobs, each GETting its own
#     16 MiB input, against the same 8 reads straight from the remote (s3rver): once with
#     the AWS SDK (s3bench.mjs), once with job-io, the reader `data: s3` jobs really use
#   - 8 `data: s3` datums through Slurm, each reading its 16 MiB input from the run's
#     dv serve with its job key and uploading a copy: wall time and MiB/s moved, against
#     the same stage with `data: shared`, and through the `dv serve --remote` above
#     (`dv run --data-endpoint`) against the run's in-process dv serve
# Needs root for the one-node Slurm cluster (scripts/slurm-test-cluster.sh installs and
# starts it). Took about 6 minutes on a quiet machine before the data: s3 figures were added,
# 9.5-10.5 minutes with them on 2 cores at load 10-20 (batch 1 alone about 3.5); the
# dv serve --remote data: s3 line adds about 25 s.
source "$(dirname "$0")/lib.sh"
WORK="$WORK-cluster"
rm -rf "$WORK" && mkdir -p "$WORK"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; cd /; rm -rf "$WORK"' EXIT
"$ROOT/scripts/slurm-test-cluster.sh" >/dev/null
export DV_SLURM_POLL_MS=200
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)'"$1"'))'; }
check() { "$@" >/dev/null 2>"$WORK/err" || { echo "failed: $* : $(cat "$WORK/err")" >&2; exit 1; }; }
waitline() { for _ in $(seq 300); do [ -s "$1" ] && break; sleep 0.1; done; head -1 "$1"; }

# --- 1,000 datums -------------------------------------------------------------------
mkdir -p "$WORK/p/data" && cd "$WORK/p"
for i in $(seq -w 1 1000); do echo "datum $i" > "data/d$i.txt"; done
check $DV init -q
stage() {  # stage EXECUTOR BATCH
  printf 'stages:\n  copy:\n    foreach: data/*.txt\n    cmd: cp ${in} ${out}\n    outs: [out/]\n    executor: %s\n    batch: %s\n' "$1" "$2" > dv.yaml
}
run() {  # run ARGS...: wall seconds of dv run -f ARGS, checking all 1,000 ran
  local t; t=$(secs $DV run -f -q "$@")
  [ "$(ls out | wc -l)" = 1000 ] || { echo "dv run $* did not produce 1,000 outputs" >&2; exit 1; }
  echo "$t"
}
stage local 1
check $DV run -q   # the first run also ingests the inputs: not measured
local1=$(run -j 1)
local4=$(run -j 4)
per() { echo "($1 - $local1) * 1000 / 1000" | bc -l | xargs printf '%.1f'; }
echo "local executor: 1,000 datums -j 1 ${local1}s ($(echo "$local1 * 1000 / 1000" | bc -l | xargs printf '%.1f') ms/datum), -j 4 ${local4}s (reference)"
for b in 1 10 100; do
  stage slurm "$b"
  t=$(run)
  echo "slurm batch $b: 1,000 datums ${t}s vs local -j 1 ${local1}s (ratio $(ratio "$t" "$local1"); overhead $(per "$t") ms/datum)"
done

# --- dv serve --remote, 8 concurrent job reads --------------------------------------
cd "$WORK"
node "$BENCH_DIR/s3rver.mjs" "$WORK/s3" --bucket bench > "$WORK/s3rver.out" 2> "$WORK/s3rver.err" &
PIDS+=($!)
S3_EP=$(waitline "$WORK/s3rver.out")
[ -n "$S3_EP" ] || { echo "s3rver did not start: $(cat "$WORK/s3rver.err")" >&2; exit 1; }
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
node "$BENCH_DIR/gen-tree.mjs" src/inputs --big 8 --big-size $((16 << 20)) --seed 7
(cd src && check $DV init -q && check $DV add inputs -q -m inputs && check $DV remote add origin s3://bench/dv --endpoint "$S3_EP" && check $DV push -q)
# The plain copy on the remote for the reference reads.
for i in $(seq 0 7); do
  node -e 'const fs=require("fs");const [s,d]=process.argv.slice(1);fs.mkdirSync(require("path").dirname(d),{recursive:true});fs.linkSync(s,d)' \
    "$WORK/src/inputs/big$i.bin" "$WORK/s3/bench/plain/big$i.bin._S3rver_object"
done
# A server that holds nothing but its cache: an empty project that knows the remote.
mkdir serve-node
(cd serve-node && check $DV init -q && check $DV remote add origin s3://bench/dv --endpoint "$S3_EP")
KEY=$(cd serve-node && $DV keys create --read '*' --json)
ID=$(echo "$KEY" | json .id)
SECRET=$(echo "$KEY" | json .secret)
(cd serve-node && exec $DV serve --port 0 --remote origin) > "$WORK/serve.out" 2> "$WORK/serve.err" &
PIDS+=($!)
DV_EP=$(waitline "$WORK/serve.out" | awk '{print $2}')
[ -n "$DV_EP" ] || { echo "dv serve --remote did not start: $(cat "$WORK/serve.err")" >&2; exit 1; }
eight() {  # eight ENDPOINT BUCKET PREFIX ID SECRET: MiB/s of 8 concurrent jobs, each reading its 16 MiB input twice
  local t0 t1 readers=(); t0=$(now)
  for i in $(seq 0 7); do
    AWS_ACCESS_KEY_ID=$4 AWS_SECRET_ACCESS_KEY=$5 node "$BENCH_DIR/s3bench.mjs" get "$1" "$2" "$3/big$i.bin" 2 >/dev/null &
    readers+=($!)
  done
  for p in "${readers[@]}"; do wait "$p" || { echo "a job read from $1 failed" >&2; exit 1; }; done
  t1=$(now)
  echo "8 * 2 * 16 / ($t1 - $t0)" | bc -l | xargs printf '%.1f'
}
eight "$DV_EP" serve-node main/inputs "$ID" "$SECRET" >/dev/null  # first touch fills the block cache
dv_tp=$(eight "$DV_EP" serve-node main/inputs "$ID" "$SECRET")
s3_tp=$(eight "$S3_EP" bench plain S3RVER S3RVER)
echo "dv serve --remote, 8 concurrent job reads of 16 MiB: ${dv_tp} MiB/s vs the remote itself (s3rver) ${s3_tp} MiB/s (ratio $(ratio "$dv_tp" "$s3_tp"))"
JOBIO="$ROOT/dist/pipeline/executors/job-io.js"
eightio() {  # eightio ENDPOINT BUCKET PREFIX ID SECRET: MiB/s of 8 concurrent job-io readers, each fetching its 16 MiB input twice
  local t0 t1 readers=(); t0=$(now)
  for i in $(seq 0 7); do
    (for _ in 1 2; do DV_ENDPOINT=$1 AWS_ACCESS_KEY_ID=$4 AWS_SECRET_ACCESS_KEY=$5 node "$JOBIO" get "s3://$2/$3/big$i.bin" /dev/null || exit 1; done) &
    readers+=($!)
  done
  for p in "${readers[@]}"; do wait "$p" || { echo "a job-io read from $1 failed" >&2; exit 1; }; done
  t1=$(now)
  echo "8 * 2 * 16 / ($t1 - $t0)" | bc -l | xargs printf '%.1f'
}
io_dv=$(eightio "$DV_EP" serve-node main/inputs "$ID" "$SECRET")
io_s3=$(eightio "$S3_EP" bench plain S3RVER S3RVER)
echo "dv serve --remote, 8 concurrent job-io reads of 16 MiB (the data: s3 jobs' reader): ${io_dv} MiB/s vs the remote itself (s3rver) ${io_s3} MiB/s (ratio $(ratio "$io_dv" "$io_s3"))"

# --- data: s3 through Slurm: 8 datums of 16 MiB -------------------------------------
cd "$WORK/src"
serve_stage() {  # serve_stage DATA
  printf 'stages:\n  copy:\n    foreach: inputs/*.bin\n    cmd: cp ${in} ${out}\n    outs: [copies/]\n    executor: slurm\n    data: %s\n' "$1" > dv.yaml
}
serve_stage s3
check $DV run -q   # the first run stores nothing new (inputs committed); measured below with -f
s3_t=$(secs $DV run -f -q)
[ "$(ls copies | wc -l)" = 8 ] || { echo "data: s3 run did not produce 8 outputs" >&2; exit 1; }
serve_stage shared
sh_t=$(secs $DV run -f -q)
echo "data: s3 through Slurm, 8 datums of 16 MiB (read from and written to the run's dv serve): ${s3_t}s, $(echo "8 * 2 * 16 / $s3_t" | bc -l | xargs printf '%.1f') MiB/s moved, vs data: shared ${sh_t}s (ratio $(ratio "$s3_t" "$sh_t"))"
# The same 8 datums through the dv serve --remote above (jobs' keys and uploads on the remote).
serve_stage s3
rm -rf copies
rm_t=$(secs $DV run -f -q --data-endpoint "$DV_EP/serve-node")
[ "$(ls copies | wc -l)" = 8 ] || { echo "data: s3 run through dv serve --remote did not produce 8 outputs" >&2; exit 1; }
echo "data: s3 through Slurm and dv serve --remote, 8 datums of 16 MiB: ${rm_t}s, $(echo "8 * 2 * 16 / $rm_t" | bc -l | xargs printf '%.1f') MiB/s moved, vs the run's in-process dv serve ${s3_t}s (ratio $(ratio "$rm_t" "$s3_t"))"

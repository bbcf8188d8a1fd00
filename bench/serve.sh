#!/usr/bin/env bash
# Figures of the dv serve issue, with s3rver (bench/s3rver.mjs) serving the very same
# bytes from plain files as the reference, both on loopback and both driven by the
# same client (bench/s3bench.mjs: node:http keep-alive + the SDK's SigV4 signer):
#   - GET throughput of a 256 MiB file (median of 3)
#   - latency of a 1 MiB Range read in the middle of a 1 GiB file (median of 50)
#   - total time to list 100,000 keys (ListObjectsV2, pages of 1000)
#   - requests per second for 1 KiB objects, 16 concurrent clients (10 s or 100,000 requests)
#   - `aws s3 sync` of 1,000 x 10 KiB files to a branch: time, and the commits it made
#   - `rclone copy` of the 1 GiB file of a version (multipart-free GETs, MD5 check)
# The reference objects are the generated files hard-linked into s3rver's store
# (<dir>/<bucket>/<key>._S3rver_object), i.e. s3rver serves them from plain files.
source "$(dirname "$0")/lib.sh"
WORK="$WORK-serve"
rm -rf "$WORK" && mkdir -p "$WORK"
cd "$WORK"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; cd /; rm -rf "$WORK"' EXIT
BENCH="node $BENCH_DIR/s3bench.mjs"

# waitline FILE: the first line of FILE once a server wrote it
waitline() { for _ in $(seq 300); do [ -s "$1" ] && break; sleep 0.1; done; head -1 "$1"; }

gen() { node "$BENCH_DIR/gen-tree.mjs" "$@"; }
gen weather/big --big 1 --big-size $((256 << 20)) --seed 1
gen weather/huge --big 1 --big-size $((1 << 30)) --seed 2
gen weather/listing --files 100000 --size 16 --seed 3
gen weather/small --files 1000 --size 1024 --seed 4
gen upload --files 1000 --size 10240 --seed 5
sleep 1.1

cd weather
$DV init -q >/dev/null
t_add=$(secs $DV add big huge listing small -q -m bench)
$DV branch sync
KEY=$($DV keys create --read '*' --write sync --json)
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)'"$1"'))'; }
DV_ID=$(echo "$KEY" | json .id)
DV_SECRET=$(echo "$KEY" | json .secret)
$DV serve --port 0 > "$WORK/serve.out" 2> "$WORK/serve.err" &
PIDS+=($!)
cd "$WORK"
DV_EP=$(waitline "$WORK/serve.out" | awk '{print $2}')
[ -n "$DV_EP" ] || { echo "dv serve did not start: $(cat "$WORK/serve.err")" >&2; exit 1; }

node "$BENCH_DIR/s3rver.mjs" "$WORK/s3" --bucket bench > "$WORK/s3rver.out" 2> "$WORK/s3rver.err" &
PIDS+=($!)
S3_EP=$(waitline "$WORK/s3rver.out")
[ -n "$S3_EP" ] || { echo "s3rver did not start: $(cat "$WORK/s3rver.err")" >&2; exit 1; }
# The same files, hard-linked into s3rver's store under plain/<path>.
node -e '
const fs = require("fs"), path = require("path");
const [src, dst] = process.argv.slice(1);
const walk = (rel) => { for (const d of fs.readdirSync(path.join(src, rel), { withFileTypes: true })) {
  const r = path.join(rel, d.name);
  if (d.isDirectory()) { fs.mkdirSync(path.join(dst, r), { recursive: true }); walk(r); }
  else if (!rel.startsWith(".dv") && rel !== "") fs.linkSync(path.join(src, r), path.join(dst, r) + "._S3rver_object");
} };
for (const top of ["big", "huge", "listing", "small"]) { fs.mkdirSync(path.join(dst, top), { recursive: true }); walk(top); }
' "$WORK/weather" "$WORK/s3/bench/plain"

dvb() { AWS_ACCESS_KEY_ID=$DV_ID AWS_SECRET_ACCESS_KEY=$DV_SECRET $BENCH "$1" "$DV_EP" weather "${@:2}"; }
s3b() { AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER $BENCH "$1" "$S3_EP" bench "${@:2}"; }

echo "setup: dv add of 1.25 GiB + 101,000 small files took ${t_add}s (not a figure); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# Warm-up: page cache for both, s3rver's lazily computed MD5 files.
dvb get main/big/big0.bin 1 >/dev/null
s3b get plain/big/big0.bin 1 >/dev/null
s3b get plain/huge/big0.bin 1 >/dev/null
dv_get=$(dvb get main/big/big0.bin 3)
s3_get=$(s3b get plain/big/big0.bin 3)
echo "GET 256 MiB: dv serve ${dv_get} MiB/s vs s3rver ${s3_get} MiB/s (ratio $(ratio "$dv_get" "$s3_get"); target >= 1)"

mid=$(( (1 << 29) + 12345 ))
dvb range main/huge/big0.bin $mid $((1 << 20)) 5 >/dev/null
dv_rng=$(dvb range main/huge/big0.bin $mid $((1 << 20)) 50)
s3_rng=$(s3b range plain/huge/big0.bin $mid $((1 << 20)) 50)
echo "Range 1 MiB in the middle of 1 GiB: dv serve ${dv_rng} ms vs s3rver ${s3_rng} ms (median of 50; ratio $(ratio "$dv_rng" "$s3_rng"))"

s3b list plain/listing/ >/dev/null   # s3rver computes and stores each object's MD5 on first sight
read -r dv_n dv_list <<< "$(dvb list main/listing/)"
read -r s3_n s3_list <<< "$(s3b list plain/listing/)"
[ "$dv_n" = 100000 ] && [ "$s3_n" = 100000 ] || { echo "listing returned $dv_n / $s3_n keys, expected 100000" >&2; exit 1; }
echo "list 100,000 keys: dv serve ${dv_list}s vs s3rver ${s3_list}s (ratio $(ratio "$dv_list" "$s3_list"); target <= 1)"

dv_rps=$(dvb rps main/small/ 16 10 100000)
s3_rps=$(s3b rps plain/small/ 16 10 100000)
echo "GET 1 KiB objects, 16 clients: dv serve ${dv_rps} req/s vs s3rver ${s3_rps} req/s (ratio $(ratio "$dv_rps" "$s3_rps"); target >= 1)"

# Writes: aws s3 sync of 1,000 x 10 KiB files (default 10 concurrent requests).
need aws awscli
need rclone rclone
awsd() { AWS_ACCESS_KEY_ID=$DV_ID AWS_SECRET_ACCESS_KEY=$DV_SECRET AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url "$DV_EP" "$@"; }
awss() { AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url "$S3_EP" "$@"; }
before=$(cd "$WORK/weather" && $DV log sync --json | json .length)
dv_sync=$(secs awsd s3 sync "$WORK/upload" s3://weather/sync/upload/)
after=$(cd "$WORK/weather" && $DV log sync --json | json .length)
s3_sync=$(secs awss s3 sync "$WORK/upload" s3://bench/upload/)
n_up=$(awsd s3 ls --recursive s3://weather/sync/upload/ | wc -l)
[ "$n_up" = 1000 ] || { echo "aws s3 sync stored $n_up of 1000 files" >&2; exit 1; }
echo "aws s3 sync 1,000 x 10 KiB to a branch: dv serve ${dv_sync}s, $((after - before)) commits vs s3rver ${s3_sync}s (ratio $(ratio "$dv_sync" "$s3_sync"); target <= 100 commits)"

# rclone copy of the 1 GiB file of a version, both servers; rclone checks the MD5 (ETag).
unset AWS_CA_BUNDLE
rc() { rclone --config /dev/null --s3-provider Other --s3-force-path-style --s3-no-check-bucket "$@"; }
dv_rc=$(secs rc copy --s3-endpoint "$DV_EP" --s3-access-key-id "$DV_ID" --s3-secret-access-key "$DV_SECRET" :s3:weather/main/huge "$WORK/rc-dv")
s3_rc=$(secs rc copy --s3-endpoint "$S3_EP" --s3-access-key-id S3RVER --s3-secret-access-key S3RVER :s3:bench/plain/huge "$WORK/rc-s3")
cmp -s "$WORK/rc-dv/big0.bin" "$WORK/weather/huge/big0.bin" || { echo "rclone copy from dv serve gave different bytes" >&2; exit 1; }
echo "rclone copy of a 1 GiB version: dv serve ${dv_rc}s vs s3rver ${s3_rc}s (ratio $(ratio "$dv_rc" "$s3_rc"); target <= 1)"

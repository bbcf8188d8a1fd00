#!/usr/bin/env bash
# Figures of the remotes issue, against s3rver on loopback (bench/s3rver.mjs):
# push and clone of the 1 GiB tree vs `aws s3 sync` of the same plain tree to the
# same server, the request count of a 10,000 x 10 KiB push, and the bytes uploaded
# after a one-byte insert into a 256 MiB file. Requests and uploaded bytes are
# counted at the server (its request log), not by dv.
source "$(dirname "$0")/lib.sh"
need aws awscli
WORK="$WORK-remote"
rm -rf "$WORK" && mkdir -p "$WORK"
cd "$WORK"

start_s3rver

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE="$WORK/aws.cfg"
# Path-style like dv; no aws-chunked checksum framing, which s3rver would store as data.
cat > "$AWS_CONFIG_FILE" <<'CFG'
[default]
request_checksum_calculation = when_required
response_checksum_validation = when_required
s3 =
  addressing_style = path
CFG
AWS="aws --endpoint-url $EP"

mark() { wc -l < "$LOG"; }
# since MARK [METHOD]: log lines after MARK, optionally of one method
since() { tail -n +$(($1 + 1)) "$LOG" | awk -v m="${2:-}" 'm == "" || $1 == m'; }
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)'"$1"'))'; }
check() { "$@" >/dev/null 2>"$WORK/err" || { echo "failed: $* : $(cat "$WORK/err")" >&2; exit 1; }; }

# 1 GiB: 2,000 x 256 KiB + 2 x 256 MiB
node "$BENCH_DIR/gen-tree.mjs" src/data --files 2000 --size 262144 --big 2 --big-size 268435456
(cd src && check $DV init -q && check $DV add data -q && check $DV remote add origin s3://bench/dv --endpoint "$EP")
sync
t_push=$(secs sh -c "cd src && $DV push -q")
t_sync_up=$(secs $AWS s3 sync --only-show-errors src/data s3://bench/plain)
[ "$(cd src && $DV status --remote --json | json .remote.ahead)" = 0 ] || { echo "dv push failed" >&2; exit 1; }
[ "$($AWS s3 ls --recursive s3://bench/plain/ | wc -l)" = 2002 ] || { echo "aws s3 sync failed" >&2; exit 1; }
echo "push 1 GiB: dv ${t_push}s vs aws s3 sync ${t_sync_up}s (ratio $(ratio "$t_push" "$t_sync_up"); no target set, lower is better)"

sync; drop_caches
t_clone=$(secs $DV clone s3://bench/dv dv-clone --endpoint "$EP" -q)
t_sync_down=$(secs $AWS s3 sync --only-show-errors s3://bench/plain plain-down)
diff -rq src/data dv-clone/data >/dev/null || { echo "dv clone differs from the source" >&2; exit 1; }
diff -rq src/data plain-down >/dev/null || { echo "aws s3 sync download differs from the source" >&2; exit 1; }
echo "clone 1 GiB: dv ${t_clone}s vs aws s3 sync ${t_sync_down}s (ratio $(ratio "$t_clone" "$t_sync_down"); no target set; includes the checkout)"
rm -rf dv-clone plain-down

# One byte inserted at the start of a 256 MiB file, then push.
{ printf 'X'; cat src/data/big0.bin; } > big0.new && mv big0.new src/data/big0.bin
(cd src && check $DV commit -q -m "insert one byte")
m=$(mark)
(cd src && check $DV push -q)
put_bytes=$(since "$m" PUT | awk '{s += $3} END {print s + 0}')
puts=$(since "$m" PUT | wc -l)
echo "push after 1-byte insert into 256 MiB: ${put_bytes} bytes in ${puts} PUTs = $(echo "100 * $put_bytes / 268435456" | bc -l | xargs printf '%.3f')% of the file (target < 1%)"
rm -rf src s3/bench/dv s3/bench/plain

# 10,000 files of 10 KiB.
node "$BENCH_DIR/gen-tree.mjs" many/data --files 10000 --size 10240
(cd many && check $DV init -q && check $DV add data -q && check $DV remote add origin s3://bench/many --endpoint "$EP")
m=$(mark)
t_many=$(secs sh -c "cd many && $DV push -q")
dv_puts=$(since "$m" PUT | wc -l); dv_all=$(since "$m" | wc -l)
[ "$(cd many && $DV status --remote --json | json .remote.ahead)" = 0 ] || { echo "dv push failed" >&2; exit 1; }
m=$(mark)
t_many_aws=$(secs $AWS s3 sync --only-show-errors many/data s3://bench/many-plain)
aws_puts=$(since "$m" PUT | wc -l)
echo "push 10,000 x 10 KiB: dv ${dv_puts} PUTs (${dv_all} requests in all, ${t_many}s) vs aws s3 sync ${aws_puts} PUTs (${t_many_aws}s) (target <= 100 PUTs)"

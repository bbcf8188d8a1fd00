#!/usr/bin/env bash
# Figures of the scale issue: SCALE_FILES small files (default 1,000,000: 1,000 directories
# of 1,000 files of ~15 bytes), dv against git on the same tree in the same run. Each step
# is timed with its peak RSS (/usr/bin/time -f %M): first add, no-op status, status /
# commit / checkout with one file changed, the metadata each keeps (.dv/ vs .git/), and
# dv push to s3rver on loopback: the whole tree, then after the one change (bytes PUT,
# counted at the server's request log), against `aws s3 sync` of 1,000 of the files (at
# 1,000,000 files a full sync would take hours: its time is extrapolated, linearly, and
# the line says so); dv serve: one ListObjectsV2 page (1,000 keys) at the start and in the
# middle of the version's N keys, one at positions never listed before, and a small Range
# GET, against the same on a version of N/100 files (at least 10,000) served alike, one
# client alternating the two (paging must cost O(page)). Each step's
# time since the start goes to stderr ("scale.sh: 93s dv add").
# SCALE_FILES=100000 gives a quick run.
source "$(dirname "$0")/lib.sh"
need /usr/bin/time time
need git git
need aws awscli
N=${SCALE_FILES:-1000000}
WORK="$WORK-scale"
rm -rf "$WORK" && mkdir -p "$WORK/t"
start_s3rver
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
cd "$WORK/t"
T0=$(now)
# stamp STEP: seconds since the start, on stderr (where the run's time goes; figures stay on stdout)
stamp() { echo "scale.sh: $(echo "$(now) - $T0" | bc -l | xargs printf '%.0f')s $1" >&2; }

# ~15-byte files: a name and a number, as in the issue's table. Two writers (every other
# directory each): making 1,000,000 files is mostly kernel time, which two cores share.
gen='const fs = require("fs");
  const [n, part] = process.argv.slice(1).map(Number);
  for (let d = part; d * 1000 < n; d += 2) {
    const dir = `data/d${String(d).padStart(3, "0")}`;
    fs.mkdirSync(dir, { recursive: true });
    for (let i = d * 1000; i < Math.min(n, (d + 1) * 1000); i++) fs.writeFileSync(`${dir}/f${String(i).padStart(7, "0")}.txt`, `row ${String(i).padStart(7, "0")}\n`);
  }'
node -e "$gen" "$N" 0 & gen_pid=$!
node -e "$gen" "$N" 1
wait $gen_pid
sleep 1.1  # let mtimes age past the racy-entry window (dv's and git's)
stamp "generated the tree"
CHANGED=data/d000/f0000001.txt

# measure NAME CMD...: sets NAME_s (wall seconds) and NAME_mb (peak RSS, MiB)
measure() {
  local name=$1; shift
  sync
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" || { echo "failed: $* : $(tail -3 "$WORK/err")" >&2; exit 1; }
  read -r s kb < "$WORK/time"
  printf -v "${name}_s" '%s' "$s"
  printf -v "${name}_mb" '%s' "$((kb / 1024))"
}
change() { echo "changed $1" > "$CHANGED"; sleep 1.1; }
G="git -c user.email=b@b -c user.name=b -c gc.auto=0"

git init -q .
measure git_add $G add data
$G commit -qm data
$G status >/dev/null
measure git_noop $G status
change 1
measure git_st1 $G status
measure git_commit $G commit -qam one
measure git_co $G checkout -q HEAD~1
git_meta=$(du -sk .git | cut -f1)
mv .git "$WORK/git"
stamp "git steps and du of .git"

$DV init -q >/dev/null
measure dv_add $DV add data -q
stamp "dv add"
dv_meta=$(du -sk .dv | cut -f1)
stamp "du of .dv"
$DV remote add origin s3://bench/scale --endpoint "$EP" >/dev/null
measure dv_push $DV push -q
stamp "dv push"
$DV status >/dev/null
measure dv_noop $DV status
change 1
measure dv_st1 $DV status
measure dv_commit $DV commit -q -m one
mark=$(wc -l < "$LOG")
measure dv_push1 $DV push -q
put_bytes=$(tail -n +$((mark + 1)) "$LOG" | awk '$1 == "PUT" {s += $3} END {print s + 0}')
puts=$(tail -n +$((mark + 1)) "$LOG" | awk '$1 == "PUT"' | wc -l)
measure dv_co $DV checkout -q HEAD~1
stamp "dv status/commit/push1/checkout"
[ "$(cat $CHANGED)" = "row 0000001" ] || { echo "checkout did not restore $CHANGED" >&2; exit 1; }

# aws s3 sync of one directory (1,000 files; its time per file is flat, ~70 files/s here),
# extrapolated to N: at 1,000,000 files a 1/100 subset alone took over two minutes.
SUBDIRS=1
sub_files=$((SUBDIRS * 1000))
export AWS_CONFIG_FILE="$WORK/aws.cfg"
printf '[default]\nrequest_checksum_calculation = when_required\nresponse_checksum_validation = when_required\ns3 =\n  addressing_style = path\n' > "$AWS_CONFIG_FILE"
mkdir -p "$WORK/sub"
for d in $(seq 0 $((SUBDIRS - 1))); do cp -al "data/d$(printf %03d "$d")" "$WORK/sub/"; done
measure aws_sync aws --endpoint-url "$EP" s3 sync --only-show-errors "$WORK/sub" s3://bench/plain
aws_est=$(echo "$aws_sync_s * $N / $sub_files" | bc -l | xargs printf '%.0f')
stamp "aws s3 sync subset"

# dv serve: the N-file version, and a version of S = N/100 files (at least 10,000, at most
# N; hard links) as the reference: adding N/10 files again cost a tenth of the run.
S=$(( N / 100 > 10000 ? N / 100 : (N < 10000 ? N : 10000) ))
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)'"$1"'))'; }
mkdir -p "$WORK/small/data"
for d in $(seq 0 $((S / 1000 - 1))); do cp -al "data/d$(printf %03d "$d")" "$WORK/small/data/"; done
(cd "$WORK/small" && $DV init -q >/dev/null && $DV add data -q >/dev/null)
stamp "small repo made and added"
serve() {  # serve DIR NAME: starts dv serve in DIR; sets sep_NAME (endpoint), kid_NAME, ksec_NAME (a read key)
  local key
  rm -f "$WORK/serve.$2"
  key=$(cd "$1" && $DV keys create --read '*' --json)
  (cd "$1" && exec $DV serve --port 0 --name "scale-$2") > "$WORK/serve.$2" 2> "$WORK/serve.$2.err" &
  SERVE_PIDS+=($!)
  for _ in $(seq 300); do [ -s "$WORK/serve.$2" ] && break; sleep 0.1; done
  printf -v "sep_$2" '%s' "$(head -1 "$WORK/serve.$2" | awk '{print $2}')"
  [ -n "$(eval echo \$sep_$2)" ] || { echo "dv serve did not start: $(cat "$WORK/serve.$2.err")" >&2; exit 1; }
  printf -v "kid_$2" '%s' "$(echo "$key" | json .id)"
  printf -v "ksec_$2" '%s' "$(echo "$key" | json .secret)"
}
serve_both() {  # (re)starts dv serve on both versions: fresh processes, nothing cached in them
  local p
  for p in "${SERVE_PIDS[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
  SERVE_PIDS=()
  serve . big
  serve "$WORK/small" small
}
SERVE_PIDS=()
trap 'for p in "${SERVE_PIDS[@]}"; do kill "$p" 2>/dev/null; done; kill $S3PID 2>/dev/null; wait $S3PID 2>/dev/null; cd /; rm -rf "$WORK"' EXIT
serve_both
stamp "both versions served"
mid_dir=$(printf %03d $((N / 2000))); mid_key="data/d$mid_dir/f$(printf %07d $((N / 2)))"
small_mid_dir=$(printf %03d $((S / 2000))); small_mid_key="data/d$small_mid_dir/f$(printf %07d $((S / 2)))"
# Both servers are fresh processes and each s3bench run a fresh client. A fresh dv serve
# answers its first ~10 pages of 1,000 keys 2-3x slower than later ones (its JIT compiles
# them; on 2 cores the compiler threads compete with it and with the client), and a fresh
# client its own first requests likewise; on a loaded machine one client process's median
# also differs from the next one's by up to 3x. Timing 5 pages of each version right after
# ONE warm-up page, each version in its own client, measured that start-up and that spread,
# not the version's size: on 2026-12-02 the big version's first page came out 33.6 vs 21.2
# ms (1.58x) and its Range GET 4.03 vs 3.31 ms (1.22x), with the same server CPU per request
# (10.30 vs 10.35 ms a page), the same syscalls per request, the same GCs, no disk reads, and
# server-side times per GET of 1.23 vs 1.49 ms (median); warm and alternating, 13.9 vs 13.1 ms
# a page and 2.06 vs 2.06 ms a GET. So: both servers get the same warm-up (WARM_PAGES first
# pages, WARM_GETS Range GETs), and one client (s3bench vs) sends each request to both,
# alternating sample by sample, so both see the same client state and the same load.
WARM_PAGES=30 WARM_GETS=100
sbvs() {  # sbvs RUNS WARM OP ARGS...: s3bench vs, big as A, small as B
  AWS_ACCESS_KEY_ID=$kid_big AWS_SECRET_ACCESS_KEY=$ksec_big B_ACCESS_KEY_ID=$kid_small B_SECRET_ACCESS_KEY=$ksec_small \
    node "$BENCH_DIR/s3bench.mjs" vs "$sep_big" scale-big "$sep_small" scale-small "$@"
}
# First touch: pages at positions never listed before (each exactly one directory: after the
# last key of the one before) read that directory's tree and its 1,000 MD5 records from the
# OS cache or disk, and run a path the warm pages do not (cold in the JIT too). Per round:
# both servers fresh, WARM_PAGES first pages, 3 such pages each as warm-up, then 5 each
# timed; the figure is the median of COLD_ROUNDS rounds' medians (a version of 10,000 files
# has room for 8 such pages, and 5 samples on a loaded machine spread 0.65-1.5x). Before the
# middle page (the small version's middle directories are among these); the big version's
# positions start at directory N/4000.
COLD_ROUNDS=3
at() { local j; for j in $(seq "$2" "$3"); do printf 'main/data/d%03d/f%07d.txt,' $(($1 + j - 1)) $((($1 + j) * 1000 - 1)); done; }  # at BASE FROM TO
cold_base=$((N / 4000))
colds_big=() colds_small=()
for r in $(seq "$COLD_ROUNDS"); do
  [ "$r" = 1 ] || serve_both
  sbvs 1 "$WARM_PAGES" page main/data/ "" "" >/dev/null
  sbvs 0 5 fresh main/data/ "$(at $cold_base 1 3)" "$(at 0 1 3)" >/dev/null
  read -r n5 n6 c1 c2 <<< "$(sbvs 0 5 fresh main/data/ "$(at $cold_base 4 8)" "$(at 0 4 8)")"
  [ "$n5 $n6" = "1000 1000" ] || { echo "first-touch pages returned $n5 $n6 keys, expected 1000 each" >&2; exit 1; }
  colds_big+=("$c1") colds_small+=("$c2")
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cold_big=$(med "${colds_big[@]}") cold_small=$(med "${colds_small[@]}")
stamp "first-touch pages"
read -r n1 n2 page_big page_small <<< "$(sbvs 50 "$WARM_PAGES" page main/data/ "" "")"
read -r n3 n4 mid_big mid_small <<< "$(sbvs 50 5 page main/data/ "main/$mid_key.txt" "main/$small_mid_key.txt")"
[ "$n1 $n2 $n3 $n4" = "1000 1000 1000 1000" ] || { echo "list pages returned $n1 $n2 $n3 $n4 keys, expected 1000 each" >&2; exit 1; }
stamp "list pages"
read -r b1 b2 get_big get_small <<< "$(sbvs 200 "$WARM_GETS" range "main/$mid_key.txt" "main/$small_mid_key.txt" 0 4)"
[ "$b1 $b2" = "4 4" ] || { echo "range GETs returned $b1 $b2 bytes, expected 4 each" >&2; exit 1; }

# The servers' own CPU per request (utime + stime of each dv serve, over 200 pages and 1,000
# GETs, alternating as above): what the version's size may cost the server, less blurred
# by a loaded machine than wall time.
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
per_req() {  # per_req NAME COUNT: NAME_big / NAME_small = CPU ms per request of each server over `sbvs COUNT 0 ...`
  local name=$1 n=$2 a0 b0 a1 b1; shift 2
  a0=$(cpu_of "${SERVE_PIDS[0]}"); b0=$(cpu_of "${SERVE_PIDS[1]}")
  sbvs "$n" 0 "$@" >/dev/null
  a1=$(cpu_of "${SERVE_PIDS[0]}"); b1=$(cpu_of "${SERVE_PIDS[1]}")
  printf -v "${name}_big" '%s' "$(echo "($a1 - $a0) * 1000 / $(getconf CLK_TCK) / $n" | bc -l | xargs printf '%.2f')"
  printf -v "${name}_small" '%s' "$(echo "($b1 - $b0) * 1000 / $(getconf CLK_TCK) / $n" | bc -l | xargs printf '%.2f')"
}
per_req cpu_page 200 page main/data/ "" ""
per_req cpu_get 1000 range "main/$mid_key.txt" "main/$small_mid_key.txt" 0 4

files=$(printf "%'d" "$N")
stamp "range GETs and server CPU"
fig() {  # fig LABEL DV_NAME GIT_NAME TARGET
  local ds=${2}_s dm=${2}_mb gs=${3}_s gm=${3}_mb
  echo "$1, $files files: dv ${!ds}s ${!dm} MiB vs $4 ${!gs}s ${!gm} MiB (time ratio $(ratio ${!ds} ${!gs}); RSS ratio $(ratio ${!dm} ${!gm}); target $5)"
}
fig "first add" dv_add git_add "git add" "time < 1, RSS <= 1.5"
fig "no-op status" dv_noop git_noop "git status" "RSS <= 1.5"
fig "status, one file changed" dv_st1 git_st1 "git status" "time <= 2, RSS <= 1.5"
fig "commit of one changed file" dv_commit git_commit "git commit -a" "time <= 2 of git status, RSS <= 1.5"
fig "checkout HEAD~1, one file differs" dv_co git_co "git checkout" "time <= 2 of git status, RSS <= 1.5"
for s in dv_st1 dv_commit dv_co; do
  v=${s}_s
  echo "$s vs git status, $files files: ${!v}s vs ${git_st1_s}s (ratio $(ratio ${!v} $git_st1_s); target <= 2) and vs no-op dv status ${dv_noop_s}s (ratio $(ratio ${!v} $dv_noop_s); target <= 1.5)"
done
echo "metadata, $files files: .dv/ $((dv_meta / 1024)) MiB vs .git/ $((git_meta / 1024)) MiB (ratio $(ratio $dv_meta $git_meta); target <= 3)"
echo "push of the whole tree, $files files: dv ${dv_push_s}s ${dv_push_mb} MiB vs aws s3 sync ~${aws_est}s (extrapolated from $(printf "%'d" $sub_files) files in ${aws_sync_s}s; ratio $(ratio ${dv_push_s} $aws_est); no target)"
echo "push after one changed file, $files files: ${put_bytes} bytes in ${puts} PUTs, ${dv_push1_s}s ${dv_push1_mb} MiB (target: kilobytes)"
small_files=$(printf "%'d" "$S")
echo "dv serve, first list page (1,000 keys) of $files keys: ${page_big} ms vs of $small_files keys ${page_small} ms (median of 50, alternating, after $WARM_PAGES alike; ratio $(ratio $page_big $page_small); target <= 1.2)"
echo "dv serve, list page in the middle (start-after) of $files keys: ${mid_big} ms vs of $small_files keys ${mid_small} ms (median of 50, alternating, after 5; ratio $(ratio $mid_big $mid_small); target <= 1.2)"
echo "dv serve, list page at a position never listed before (first touch: one directory's tree and MD5 records read) of $files keys: ${cold_big} ms vs of $small_files keys ${cold_small} ms (median of $COLD_ROUNDS fresh servers' medians of 5, alternating, after 3 such pages; ratio $(ratio $cold_big $cold_small); target <= 1.2)"
echo "dv serve, 4-byte Range GET in a version of $files files: ${get_big} ms vs of $small_files files ${get_small} ms (median of 200, alternating, after $WARM_GETS alike; ratio $(ratio $get_big $get_small); target <= 1.2)"
echo "dv serve, server CPU per list page (1,000 keys, 200 pages) of $files keys: ${cpu_page_big} ms vs of $small_files keys ${cpu_page_small} ms (ratio $(ratio $cpu_page_big $cpu_page_small); target <= 1.2)"
echo "dv serve, server CPU per 4-byte Range GET (1,000 GETs) in a version of $files files: ${cpu_get_big} ms vs of $small_files files ${cpu_get_small} ms (ratio $(ratio $cpu_get_big $cpu_get_small); target <= 1.2)"
echo "bench/scale.sh took $(echo "$(now) - $T0" | bc -l | xargs printf '%.0f')s"

#!/usr/bin/env bash
# Figures of the scale issue: SCALE_FILES small files (default 1,000,000: 1,000 directories
# of 1,000 files of ~15 bytes), dv against git on the same tree in the same run. Each step
# is timed with its peak RSS (/usr/bin/time -f %M): first add, no-op status, status /
# commit / checkout with one file changed, the metadata each keeps (.dv/ vs .git/), and
# dv push to s3rver on loopback: the whole tree, then after the one change (bytes PUT,
# counted at the server's request log).
# SCALE_FILES=100000 gives a quick run.
source "$(dirname "$0")/lib.sh"
need /usr/bin/time time
need git git
N=${SCALE_FILES:-1000000}
WORK="$WORK-scale"
rm -rf "$WORK" && mkdir -p "$WORK/t"
start_s3rver
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
cd "$WORK/t"
T0=$(now)

# ~15-byte files: a name and a number, as in the issue's table.
node -e '
  const fs = require("fs");
  const n = Number(process.argv[1]);
  for (let i = 0; i < n; i++) {
    const d = `data/d${String(Math.floor(i / 1000)).padStart(3, "0")}`;
    if (i % 1000 === 0) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(`${d}/f${String(i).padStart(7, "0")}.txt`, `row ${String(i).padStart(7, "0")}\n`);
  }' "$N"
sleep 1.1  # let mtimes age past the racy-entry window (dv's and git's)
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

$DV init -q >/dev/null
measure dv_add $DV add data -q
dv_meta=$(du -sk .dv | cut -f1)
$DV remote add origin s3://bench/scale --endpoint "$EP" >/dev/null
measure dv_push $DV push -q
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
[ "$(cat $CHANGED)" = "row 0000001" ] || { echo "checkout did not restore $CHANGED" >&2; exit 1; }

files=$(printf "%'d" "$N")
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
echo "push of the whole tree, $files files: dv ${dv_push_s}s ${dv_push_mb} MiB (no target; aws s3 sync of as many files would take far longer)"
echo "push after one changed file, $files files: ${put_bytes} bytes in ${puts} PUTs, ${dv_push1_s}s ${dv_push1_mb} MiB (target: kilobytes)"
echo "bench/scale.sh took $(echo "$(now) - $T0" | bc -l | xargs printf '%.0f')s"

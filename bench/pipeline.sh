#!/usr/bin/env bash
# Figures of the pipelines issue: no-op run over 10,000 inputs, a run after changing 10
# of them (overhead per datum beyond the command itself), and -j 2 vs -j 1.
source "$(dirname "$0")/lib.sh"
rm -rf "$WORK" && mkdir -p "$WORK/p/data/raw" && cd "$WORK/p"

node -e '
const fs = require("fs");
for (let i = 0; i < 10000; i++) fs.writeFileSync(`data/raw/${String(i).padStart(5, "0")}.txt`, `line ${i}\n`);
'
cat > dv.yaml <<'Y'
stages:
  copy:
    foreach: data/raw/*.txt
    cmd: cp ${in} ${out}
    outs: data/copied/
Y
sleep 1.1
$DV init -q >/dev/null && $DV add data/raw -q >/dev/null
$DV run -q >/dev/null                                   # first run: 10,000 commands
t_noop=$(median_secs 5 $DV run -q)
ran=$($DV runs --json -n 1 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].counts.run))')
echo "no-op run, 10,000 inputs: ${t_noop}s (median of 5), ${ran} commands run (target < 2 s, 0 commands)"

# Paired rounds: change N inputs, time `dv run`, then time a no-op run under the same
# conditions (after an untimed one that settles the stat cache); the per-round
# difference is what the N datums cost, robust to this machine drifting between
# rounds. The reference is the same N commands, each forked and exec'd by a shell
# loop: "overhead" is everything dv adds around a command (dv runs such a plain
# command without a shell of its own, so none is counted for it).
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rounds() {  # rounds N COUNT: prints "changed no-op" per round
  for r in $(seq "$2"); do
    for i in $(seq 0 $(($1 - 1))); do echo "round $1.$r" >> "data/raw/$(printf %05d $i).txt"; done
    local tc tn; tc=$(secs $DV run -q); sleep 1.1; $DV run -q >/dev/null; tn=$(secs $DV run -q)
    echo "$tc $tn"
  done
}
rounds 10 7 > "$WORK/r10"
ran=$($DV runs --json -n 4 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).find((r)=>r.counts.run>0).counts.run))')
t_ten=$(awk '{print $1}' "$WORK/r10" | median); t_ten_noop=$(awk '{print $2}' "$WORK/r10" | median)
d_ten=$(awk '{print $1 - $2}' "$WORK/r10" | median)
t_cmds=$(median_secs 5 sh -c 'for f in $(ls data/raw | head -n 10); do cp data/raw/$f /tmp/dv-bench-ref-$f; done')
overhead=$(echo "($d_ten - $t_cmds) * 1000 / 10" | bc -l | xargs printf '%.1f')
echo "run after changing 10 inputs: ${t_ten}s vs no-op ${t_ten_noop}s (medians of 7 paired rounds; per-round difference ${d_ten}s), ${ran} commands run; the 10 commands alone ${t_cmds}s -> ${overhead} ms overhead per datum (target < 5 ms)"
# The same with 100 changed inputs: the slope separates per-datum cost from per-run cost.
rounds 100 3 > "$WORK/r100"
d_hundred=$(awk '{print $1 - $2}' "$WORK/r100" | median)
t_cmds100=$(median_secs 3 sh -c 'for f in $(ls data/raw | head -n 100); do cp data/raw/$f /tmp/dv-bench-ref-$f; done')
marginal=$(echo "(($d_hundred - $t_cmds100) - ($d_ten - $t_cmds)) * 1000 / 90" | bc -l | xargs printf '%.1f')
echo "run after changing 100 inputs: ${d_hundred}s more than a no-op (median of 3 paired rounds) vs commands alone ${t_cmds100}s -> ${marginal} ms marginal overhead per datum (slope between 10 and 100 changed)"

# CPU-bound datums: each burns ~0.3 s of CPU in the shell.
rm -rf "$WORK/cpu" && mkdir -p "$WORK/cpu/data/in" && cd "$WORK/cpu"
for i in $(seq 1 12); do echo $i > data/in/$i.txt; done
cat > dv.yaml <<'Y'
stages:
  burn:
    foreach: data/in/*.txt
    cmd: 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; cp ${in} ${out}'
    outs: data/out/
Y
$DV init -q >/dev/null && $DV add data/in -q >/dev/null
t_j1=$(secs $DV run -q -j 1 --force --branch j1)
t_j2=$(secs $DV run -q -j 2 --force --branch j2)
echo "12 CPU-bound datums: -j 2 ${t_j2}s vs -j 1 ${t_j1}s (speed-up $(ratio $t_j1 $t_j2)x on $(nproc) cores)"
cd / && rm -rf "$WORK" /tmp/dv-bench-ref-*

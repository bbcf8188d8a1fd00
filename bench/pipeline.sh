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

# Five rounds of 10 changed inputs. The reference is the same 10 commands, each forked
# and exec'd by a shell loop: "overhead" is everything dv adds around a command (dv
# runs such a plain command without a shell of its own, so none is counted for it).
changed_run() {  # changed_run N ROUND: append to N inputs, time `dv run`
  for i in $(seq 0 $(($1 - 1))); do echo "round $2" >> "data/raw/$(printf %05d $i).txt"; done
  secs $DV run -q
}
t_ten=$(for r in 1 2 3 4 5; do changed_run 10 $r; echo; done | sort -n | awk '{a[NR]=$1} END {print a[3]}')
ran=$($DV runs --json -n 1 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].counts.run))')
t_cmds=$(median_secs 5 sh -c 'for f in $(ls data/raw | head -n 10); do cp data/raw/$f /tmp/dv-bench-ref-$f; done')
overhead=$(echo "($t_ten - $t_noop - $t_cmds) * 1000 / 10" | bc -l | xargs printf '%.1f')
echo "run after changing 10 inputs: ${t_ten}s (median of 5), ${ran} commands run; no-op ${t_noop}s + the 10 commands alone ${t_cmds}s -> ${overhead} ms overhead per datum (target < 5 ms)"
# The same with 100 changed inputs: the slope separates per-datum cost from per-run cost.
t_hundred=$(for r in 6 7 8; do changed_run 100 $r; echo; done | sort -n | awk '{a[NR]=$1} END {print a[2]}')
t_cmds100=$(median_secs 3 sh -c 'for f in $(ls data/raw | head -n 100); do cp data/raw/$f /tmp/dv-bench-ref-$f; done')
marginal=$(echo "(($t_hundred - $t_cmds100) - ($t_ten - $t_cmds)) * 1000 / 90" | bc -l | xargs printf '%.1f')
echo "run after changing 100 inputs: ${t_hundred}s vs commands alone ${t_cmds100}s -> ${marginal} ms marginal overhead per datum (slope between 10 and 100 changed)"

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

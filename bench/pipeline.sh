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
t_noop=$(secs $DV run -q)
echo "no-op run, 10,000 inputs: ${t_noop}s, 0 commands (target < 2 s)"

for i in $(seq 0 9); do echo "changed $i" >> "data/raw/0000$i.txt"; done
t_ten=$(secs $DV run -q)
# The reference: the same 10 commands run directly by the shell, plus dv's no-op time.
t_cmds=$(secs sh -c 'for i in 0 1 2 3 4 5 6 7 8 9; do cp data/raw/0000$i.txt /tmp/dv-bench-ref-$i; done')
overhead=$(echo "($t_ten - $t_noop - $t_cmds) * 1000 / 10" | bc -l | xargs printf '%.1f')
echo "run after changing 10 inputs: ${t_ten}s for 10 commands vs no-op ${t_noop}s + commands alone ${t_cmds}s: ${overhead} ms overhead per datum (target < 5 ms)"

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

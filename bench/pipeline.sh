#!/usr/bin/env bash
# Figures of the pipelines issue: no-op run over 10,000 inputs, a run after changing 10
# of them (overhead per datum beyond the command itself; also counted in system calls
# with strace, which a loaded machine does not blur), the same with outputs written
# in place, dv exp run of a 2x2 grid with -j 2 vs -j 1, plots vs Vega, and -j 2 vs -j 1.
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
# cpu CMD...: CPU seconds (user + system) of CMD and every process it waited for (bash's
# own accounting, no extra tool): blurred far less than wall time by a loaded machine.
cpu() { local TIMEFORMAT='%U %S'; { time "$@" >/dev/null 2>&1; } 2>&1 | awk '{printf "%.3f", $1 + $2}'; }
rounds() {  # rounds N COUNT: prints "changed no-op cpu-changed cpu-no-op" per round
  for r in $(seq "$2"); do
    for i in $(seq 0 $(($1 - 1))); do echo "round $1.$r" >> "data/raw/$(printf %05d $i).txt"; done
    local tc tn cc cn
    cc=$( { TIMEFORMAT='%U %S %R'; time $DV run -q >/dev/null 2>&1; } 2>&1 ); tc=$(echo "$cc" | awk '{print $3}'); cc=$(echo "$cc" | awk '{print $1 + $2}')
    sleep 1.1; $DV run -q >/dev/null
    cn=$( { TIMEFORMAT='%U %S %R'; time $DV run -q >/dev/null 2>&1; } 2>&1 ); tn=$(echo "$cn" | awk '{print $3}'); cn=$(echo "$cn" | awk '{print $1 + $2}')
    echo "$tc $tn $cc $cn"
  done
}
# The reference: the same N commands, each forked and exec'd by a shell loop over a list
# made beforehand (the listing is not timed). Each repeat starts from an empty directory
# (emptied untimed), so every cp creates its file as under dv run, where a command never
# finds its output in place (dv set it aside). Prints "wall cpu" (medians).
reference() {  # reference N REPEATS
  local list; list=$(ls data/raw | sed -n "1,${1}p" | tr '\n' ' ')
  local script="for f in $list; do cp data/raw/\$f $WORK/ref/\$f; done"
  fresh() { rm -rf "$WORK/ref" && mkdir -p "$WORK/ref"; }
  local wall cpus
  wall=$(for _ in $(seq "$2"); do fresh; secs sh -c "$script"; echo; done | median)
  cpus=$(for _ in $(seq "$2"); do fresh; cpu sh -c "$script"; echo; done | median)
  echo "$wall $cpus"
}
rounds 10 21 > "$WORK/r10"
ran=$($DV runs --json -n 4 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).find((r)=>r.counts.run>0).counts.run))')
t_ten=$(awk '{print $1}' "$WORK/r10" | median); t_ten_noop=$(awk '{print $2}' "$WORK/r10" | median)
d_ten=$(awk '{print $1 - $2}' "$WORK/r10" | median); c_ten=$(awk '{print $3 - $4}' "$WORK/r10" | median)
read -r t_cmds c_cmds <<< "$(reference 10 5)"
overhead=$(echo "($d_ten - $t_cmds) * 1000 / 10" | bc -l | xargs printf '%.1f')
cpu_overhead=$(echo "($c_ten - $c_cmds) * 1000 / 10" | bc -l | xargs printf '%.1f')
echo "run after changing 10 inputs: ${t_ten}s vs no-op ${t_ten_noop}s (medians of 21 paired rounds; per-round difference ${d_ten}s, the run's commit included), ${ran} commands run; the 10 commands alone ${t_cmds}s -> ${overhead} ms overhead per datum (target < 5 ms); CPU: ${c_ten}s more than a no-op vs ${c_cmds}s for the commands -> ${cpu_overhead} ms CPU per datum"
# The same with 100 changed inputs: the slope separates per-datum cost from per-run cost.
rounds 100 5 > "$WORK/r100"
d_hundred=$(awk '{print $1 - $2}' "$WORK/r100" | median); c_hundred=$(awk '{print $3 - $4}' "$WORK/r100" | median)
read -r t_cmds100 c_cmds100 <<< "$(reference 100 3)"
marginal=$(echo "(($d_hundred - $t_cmds100) - ($d_ten - $t_cmds)) * 1000 / 90" | bc -l | xargs printf '%.1f')
overhead100=$(echo "($d_hundred - $t_cmds100) * 1000 / 100" | bc -l | xargs printf '%.1f')
cpu_marginal=$(echo "(($c_hundred - $c_cmds100) - ($c_ten - $c_cmds)) * 1000 / 90" | bc -l | xargs printf '%.1f')
echo "run after changing 100 inputs: ${d_hundred}s more than a no-op (median of 5 paired rounds) vs commands alone ${t_cmds100}s -> ${overhead100} ms overhead per datum, ${marginal} ms marginal (slope between 10 and 100 changed); CPU marginal ${cpu_marginal} ms per datum"

# The same per-datum cost counted rather than timed (robust to a loaded machine): system
# calls of dv and its children for a run after changing 100 inputs, minus a no-op run's,
# per datum, vs the same 100 commands run by a shell loop.
need strace strace
syscalls() { strace -f -c -o "$WORK/strace.out" "$@" >/dev/null 2>&1; awk '/total$/ {print $4}' "$WORK/strace.out"; }
for i in $(seq 0 99); do echo "strace round" >> "data/raw/$(printf %05d $i).txt"; done
sc_changed=$(syscalls $DV run -q); sleep 1.1; $DV run -q >/dev/null; sc_noop=$(syscalls $DV run -q)
list100=$(ls data/raw | sed -n 1,100p | tr '\n' ' ')
rm -rf "$WORK/ref" && mkdir -p "$WORK/ref"
sc_cmds=$(syscalls sh -c "for f in $list100; do cp data/raw/\$f $WORK/ref/\$f; done")
echo "system calls per changed datum: $(( (sc_changed - sc_noop) / 100 )) (dv run of 100 changed inputs minus a no-op run) vs $(( sc_cmds / 100 )) for each command alone in a shell loop"

# The same pipeline written the DVC way: the command writes its declared output in
# place (data/copied/NAME), not to ${out}. Same figures, fewer rounds.
sed -i 's|cmd: cp ${in} ${out}|cmd: cp ${in} data/copied/${name}|' dv.yaml
$DV run -q >/dev/null                                   # no command runs: each datum's command, interpolated, is the same as before
t_noop_ip=$(median_secs 5 $DV run -q)
echo "in-place outputs: no-op run, 10,000 inputs: ${t_noop_ip}s (median of 5) (target < 2 s)"
rounds 10 15 > "$WORK/i10"
d_ten_ip=$(awk '{print $1 - $2}' "$WORK/i10" | median); c_ten_ip=$(awk '{print $3 - $4}' "$WORK/i10" | median)
overhead_ip=$(echo "($d_ten_ip - $t_cmds) * 1000 / 10" | bc -l | xargs printf '%.1f')
cpu_overhead_ip=$(echo "($c_ten_ip - $c_cmds) * 1000 / 10" | bc -l | xargs printf '%.1f')
echo "in-place outputs: run after changing 10 inputs: ${d_ten_ip}s more than a no-op (median of 15 paired rounds) vs the 10 commands alone ${t_cmds}s -> ${overhead_ip} ms overhead per datum (target < 5 ms); CPU ${cpu_overhead_ip} ms per datum"
for i in $(seq 0 99); do echo "strace round in place" >> "data/raw/$(printf %05d $i).txt"; done
sc_changed=$(syscalls $DV run -q); sleep 1.1; $DV run -q >/dev/null; sc_noop=$(syscalls $DV run -q)
echo "in-place outputs: system calls per changed datum: $(( (sc_changed - sc_noop) / 100 )) vs $(( sc_cmds / 100 )) for each command alone"

# dv exp run: a 2x2 grid on the example project, two at a time vs one after another
# (each in a fresh copy, so neither finds the other's run-cache entries).
for j in 1 2; do
  rm -rf "$WORK/exp$j" && cp -r "$ROOT/examples/dvc-project" "$WORK/exp$j" && cd "$WORK/exp$j"
  $DV init -q >/dev/null && $DV add data -q >/dev/null && $DV run -q >/dev/null
  eval "t_exp$j=\$(secs $DV exp run -p train.lr=0.05,0.2 -p featurize.degree=1,2 -j $j)"
done
echo "dv exp run, 2x2 grid: -j 2 ${t_exp2}s vs the four one after another (-j 1) ${t_exp1}s (speed-up $(ratio $t_exp1 $t_exp2)x on $(nproc) cores)"

# Plots: dv's own SVG renderer vs Vega-Lite compiled and rendered by Vega in Node (the
# reference, installed here from npm), same two plots of the example project.
cd "$WORK/exp2"
t_plots=$(median_secs 3 $DV plots show -o "$WORK/plots")
t_dvstart=$(median_secs 3 $DV metrics show)
if (mkdir -p "$WORK/vega" && cd "$WORK/vega" && npm init -y >/dev/null && npm install --no-audit --no-fund vega vega-lite >/dev/null 2>&1); then
  cat > "$WORK/vega/render.mjs" <<'JS'
const vega = await import('vega');
const vl = await import('vega-lite');
const fs = await import('node:fs');
for (const [file, x, y, mark] of [['eval/loss.csv', 'epoch', 'loss', 'line'], ['eval/predictions.csv', 'actual', 'predicted', 'point']]) {
  const [head, ...rows] = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(','));
  const values = rows.map((r) => Object.fromEntries(r.map((v, i) => [head[i], Number(v)])));
  const spec = vl.compile({ data: { values }, mark, encoding: { x: { field: x, type: 'quantitative' }, y: { field: y, type: 'quantitative' } } }).spec;
  fs.writeFileSync(`${process.argv[2]}/${file.replace('/', '_')}.svg`, await new vega.View(vega.parse(spec), { renderer: 'none' }).toSVG());
}
JS
  mkdir -p "$WORK/vega-out"
  t_vega=$(median_secs 3 node "$WORK/vega/render.mjs" "$WORK/vega-out")
  size_vega=$(du -sm "$WORK/vega/node_modules" | cut -f1)
  echo "plots (2 SVGs + HTML): dv plots show ${t_plots}s (a dv command doing no plotting: ${t_dvstart}s) vs Vega-Lite + Vega in Node ${t_vega}s and ${size_vega} MB of dependencies"
else
  echo "plots (2 SVGs + HTML): dv plots show ${t_plots}s (a dv command doing no plotting: ${t_dvstart}s); Vega not measured (npm install failed)"
fi
cd "$WORK"

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
cd / && rm -rf "$WORK"

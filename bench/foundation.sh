#!/usr/bin/env bash
# Each timed step starts after `sync`, so no step pays for the previous one's writeback.
# Figures of the foundation issue: add vs restic and cp -r, no-op status vs git status,
# one inserted byte, checkout of 1% of files vs cp -r, peak memory of add.
source "$(dirname "$0")/lib.sh"
need restic restic
need /usr/bin/time time
rm -rf "$WORK" && mkdir -p "$WORK"
cd "$WORK"

# 1 GiB: 2,000 x 256 KiB + 2 x 256 MiB
node "$BENCH_DIR/gen-tree.mjs" src/data --files 2000 --size 262144 --big 2 --big-size 268435456
sleep 1.1  # let mtimes age past dv's racy-entry window, as on any real tree

# Every step over the 1 GiB tree is the median of 3, each after `sync`: the first copy
# after the tree is made runs 3-4x slower than the next ones here (2.8 s vs 0.7 s for
# `cp -r`), so a single sample measured the page cache, not the step.
# med3 CMD...: median wall time of 3 runs of CMD, each after the previous one's cleanup
# ($CLEAN, a command run untimed after each) and a sync.
med3() { for _ in 1 2 3; do sync; secs "$@"; echo; eval "$CLEAN"; done | sort -n | sed -n 2p; }
CLEAN='rm -rf cp-copy'; t_cp=$(med3 cp -r src/data cp-copy)
# The physical limit: a durable copy (cp -r, then sync) and one 1 GiB sequential durable write.
t_cps=$(med3 sh -c 'cp -r src/data cp-copy && sync')
CLEAN='rm -f dd.out'; t_dd=$(med3 dd if=/dev/zero of=dd.out bs=1M count=1024 conv=fsync)
export RESTIC_PASSWORD=bench
CLEAN='rm -rf restic-repo; restic init -q -r restic-repo >/dev/null'; eval "$CLEAN"
t_restic=$(med3 restic -q -r restic-repo backup --compression off src/data)
(cd src && $DV init -q >/dev/null)
sync; read -r rss_kb cpu_u cpu_s < <( { cd src && /usr/bin/time -f '%M %U %S' $DV add data -q >/dev/null; } 2>&1 | tail -1)
sync; read -r cps_u cps_s < <( { /usr/bin/time -f '%U %S' sh -c 'cp -r src/data cp-copy && sync'; } 2>&1 | tail -1); rm -rf cp-copy
CLEAN="rm -rf src/.dv; (cd src && $DV init -q >/dev/null)"; eval "$CLEAN"
t_add=$(med3 sh -c "cd src && $DV add data -q")
rm -rf src/.dv; (cd src && $DV init -q >/dev/null && $DV add data -q >/dev/null)
echo "add 1 GiB: dv ${t_add}s vs restic backup ${t_restic}s (ratio $(ratio $t_add $t_restic); target < 1)"
echo "add 1 GiB: dv ${t_add}s vs cp -r ${t_cp}s (ratio $(ratio $t_add $t_cp); target <= 1.5)"
echo "add 1 GiB: dv ${t_add}s vs cp -r + sync ${t_cps}s (ratio $(ratio $t_add $t_cps); target <= 1.2)"
echo "add 1 GiB: dv ${t_add}s vs dd 1 GiB conv=fsync ${t_dd}s (ratio $(ratio $t_add $t_dd); reference: the disk)"
echo "add 1 GiB peak RSS: $((rss_kb / 1024)) MiB (target < 300 MiB)"
# CPU seconds (user + system, all threads): what a shared machine does not blur.
t_cpu=$(echo "$cpu_u + $cpu_s" | bc -l); t_cps_cpu=$(echo "$cps_u + $cps_s" | bc -l)
echo "add 1 GiB CPU: dv ${t_cpu}s vs cp -r + sync ${t_cps_cpu}s (ratio $(ratio $t_cpu $t_cps_cpu); reference: the durable copy's CPU)"

# One byte inserted at the start of a 256 MiB file.
before=$(cd src && $DV fsck --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).objects))')
bytes_before=$(du -sb src/.dv/packs | cut -f1)
{ printf 'X'; cat src/data/big0.bin; } > big0.new && mv big0.new src/data/big0.bin
(cd src && $DV commit -q -m "insert one byte" >/dev/null)
after=$(cd src && $DV fsck --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).objects))')
bytes_after=$(du -sb src/.dv/packs | cut -f1)
# New objects = new chunks + 2 trees + 1 commit.
echo "insert 1 byte into 256 MiB: $((after - before - 3)) new chunks, $((bytes_after - bytes_before)) new stored bytes (target <= 2 chunks)"

# Checkout between versions differing in 1% (20 of 2,000) of the small files.
for i in $(seq 0 19); do f=$(printf 'src/data/d%03d/f%06d.bin' $((i * 100 / 1000)) $((i * 100))); head -c 262144 /dev/urandom > "$f"; done
(cd src && $DV commit -q -m "1% changed" >/dev/null)
sleep 1.1
# The median of 3 checkouts to the version before (each followed, untimed, by one back to main).
CLEAN="(cd src && $DV checkout main -q >/dev/null)"; t_co=$(med3 sh -c "cd src && $DV checkout HEAD~1 -q")
CLEAN='rm -rf cp-copy2'; t_cp2=$(med3 cp -r src/data cp-copy2)
echo "checkout 1% changed: dv ${t_co}s vs cp -r ${t_cp2}s (ratio $(ratio $t_co $t_cp2); target < 0.10)"
rm -rf "$WORK"

# No-op status on 100,000 small files vs git status.
mkdir -p "$WORK/many" && cd "$WORK/many"
node "$BENCH_DIR/gen-tree.mjs" data --files 100000 --size 64 --fanout 1000
sleep 1.1
git init -q . && git add data && git -c user.email=b@b -c user.name=b commit -qm data
git status >/dev/null
t_git=$(median_secs 5 git status)
mv .git .git-bench
$DV init -q >/dev/null && $DV add data -q >/dev/null
$DV status >/dev/null
t_st=$(median_secs 5 $DV status)
t_add0=$(median_secs 5 $DV add data -q)
native=$(node -e "import('$ROOT/dist/repo/native-scan.js').then(m => console.log(m.nativeScanAvailable() ? 'native scanner' : 'JS scanner'))")
echo "no-op status, 100k files: dv ${t_st}s vs git status ${t_git}s (medians of 5; ratio $(ratio $t_st $t_git); target <= 2; $native)"
echo "no-op add, 100k files: dv ${t_add0}s vs git status ${t_git}s (medians of 5; ratio $(ratio $t_add0 $t_git); target <= 2)"
cd / && rm -rf "$WORK"

#!/usr/bin/env bash
# dv fsck of the 1 GiB repository of bench/foundation.sh (2,000 x 256 KiB + 2 x 256 MiB)
# against reading and hashing every pack byte with b3sum and sha256sum in the same run
# (fsck reads every byte once and hashes it twice: the pack against its name and each
# object against its id), then dv fsck --repair (a full index rebuild) on the same repo.
source "$(dirname "$0")/lib.sh"
need b3sum b3sum
rm -rf "$WORK" && mkdir -p "$WORK"
cd "$WORK"
node "$BENCH_DIR/gen-tree.mjs" src/data --files 2000 --size 262144 --big 2 --big-size 268435456
(cd src && $DV init -q >/dev/null && $DV add data -q >/dev/null)
packs=$(find src/.dv/packs -name '*.pack' | sort)
cat $packs >/dev/null  # the same warm page cache for every reader below
sync; t_fsck=$(secs sh -c "cd src && $DV fsck -q")
sync; t_b3=$(secs sh -c "b3sum --num-threads 1 $(echo $packs)")
sync; t_sha=$(secs sh -c "sha256sum $(echo $packs)")
sync; t_repair=$(secs sh -c "cd src && $DV fsck --repair -q")
(cd src && $DV fsck -q >/dev/null) || { echo "fsck after --repair failed" >&2; exit 1; }
echo "fsck 1 GiB: dv ${t_fsck}s vs b3sum (1 thread) of the packs ${t_b3}s (ratio $(ratio $t_fsck $t_b3))"
echo "fsck 1 GiB: dv ${t_fsck}s vs sha256sum of the packs ${t_sha}s (ratio $(ratio $t_fsck $t_sha))"
echo "fsck --repair 1 GiB: dv ${t_repair}s vs b3sum (1 thread) of the packs ${t_b3}s (ratio $(ratio $t_repair $t_b3))"
rm -rf "$WORK"

#!/usr/bin/env bash
# Figures of the sandbox issue: per-datum overhead of the sandbox executor over the
# plain local executor on 1,000 datums (target < 5 ms more per datum), with a bare
# `bwrap ... true` start as the reference. The sandbox runs a stage's datums in batch
# containers (one bubblewrap per `batch:` datums, default 128; each datum in its own
# mount namespace, see src/pipeline/executors/sandbox-pool.ts); the line after it is
# the fallback of one bwrap per datum (DV_SANDBOX_BATCH=0: non-root, no native addon).
# Then the cost of minting + revoking a job key, with `dv keys create` (a whole CLI
# process) as the reference. Takes about 2 minutes on a quiet machine (5 on a loaded one).
source "$(dirname "$0")/lib.sh"
need bwrap bubblewrap
rm -rf "$WORK" && mkdir -p "$WORK/p/data/raw" && cd "$WORK/p"
N=${N:-1000}
node -e "const fs=require('fs'); for (let i=0;i<$N;i++) fs.writeFileSync('data/raw/'+String(i).padStart(5,'0')+'.txt', 'line '+i+'\n');"
stage() {  # stage ISOLATION
  cat > dv.yaml <<Y
stages:
  copy:
    foreach: data/raw/*.txt
    cmd: cp \${in} \${out}
    outs: data/copied/
    isolation: $1
Y
}
sleep 1.1
$DV init -q >/dev/null && $DV add data/raw -q >/dev/null
stage local;   $DV run -q >/dev/null   # warm: state, run-cache
t_local=$(median_secs 3 $DV run -q -f)
stage sandbox; $DV run -q -f >/dev/null
t_sandbox=$(median_secs 3 $DV run -q -f)
per=$(echo "($t_sandbox - $t_local) * 1000 / $N" | bc -l | xargs printf '%.2f')
t_bwrap=$(secs sh -c "for i in \$(seq 100); do bwrap --ro-bind /usr /usr --ro-bind-try /bin /bin --ro-bind-try /lib /lib --ro-bind-try /lib64 /lib64 --unshare-net --unshare-pid --proc /proc --dev /dev /bin/true; done")
bw=$(echo "$t_bwrap * 1000 / 100" | bc -l | xargs printf '%.2f')
echo "sandbox vs local, $N datums: ${per} ms more per datum (sandbox ${t_sandbox}s, local ${t_local}s, median of 3) vs bare bwrap start ${bw} ms (target < 5 ms more per datum)"
t_old=$(DV_SANDBOX_BATCH=0 median_secs 3 $DV run -q -f)
old=$(echo "($t_old - $t_local) * 1000 / $N" | bc -l | xargs printf '%.2f')
echo "one bwrap per datum (fallback) vs local, $N datums: ${old} ms more per datum (${t_old}s, median of 3) vs bare bwrap start ${bw} ms"

# Minting: in-process mintJobKey + revokeJobKey (what dv run does per job) vs one `dv keys create`.
M=200
mint_ms=$(node --input-type=module -e "
import { Repo } from '$ROOT/dist/repo/repo.js';
import { mintJobKey, revokeJobKey } from '$ROOT/dist/repo/job-keys.js';
const repo = Repo.open('.');
const t0 = performance.now();
for (let i = 0; i < $M; i++) {
  const c = await mintJobKey(repo, { read: ['main'], write: ['out'], ttlSeconds: 600, identity: 'bench', runId: 'bench' });
  await revokeJobKey(repo, c.accessKeyId);
}
console.log(((performance.now() - t0) / $M).toFixed(2));
repo.close();")
t_create=$(median_secs 5 $DV keys create --read main)
echo "mint + revoke a job key: ${mint_ms} ms vs dv keys create $(echo "$t_create * 1000" | bc -l | xargs printf '%.0f') ms (median of 5; in-process, once per job)"

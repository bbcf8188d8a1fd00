#!/usr/bin/env bash
# Starts a single-node Slurm cluster on this machine from Debian's packages, for the
# Slurm executor's tests and for users who want to try `executor: slurm` locally:
# a munge key, munged, a slurm.conf naming this host as SlurmctldHost and as the one
# node, slurmctld and slurmd. Idempotent: a cluster that already answers is left alone.
# Run as root. Installs slurm-wlm and munge when missing (Debian/Ubuntu).
# Env: DV_SLURM_CPUS (CPUs the node advertises, default 32: tasks run oversubscribed).
set -euo pipefail

if [ "$(id -u)" != 0 ]; then echo "slurm-test-cluster: run as root" >&2; exit 1; fi
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq slurm-wlm munge >/dev/null
fi

host=$(hostname -s)
cpus=${DV_SLURM_CPUS:-32}
conf=/etc/slurm/slurm.conf

ready() { sinfo -h -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }
if [ -f "$conf" ] && ready; then echo "slurm-test-cluster: already running on $host"; exit 0; fi

# munge: one key, the daemon running as the munge user.
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
if ! munge -n </dev/null >/dev/null 2>&1; then
  su -s /bin/sh munge -c '/usr/sbin/munged --force'
  for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
fi

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
mem=$(awk '/MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
tmp=$(mktemp /etc/slurm/.slurm.conf.XXXXXX)
cat >"$tmp" <<CONF
# Written by dv's scripts/slurm-test-cluster.sh: a one-node test cluster.
ClusterName=dvtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
MaxArraySize=10001
MaxJobCount=100000
InactiveLimit=0
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
chmod 0644 "$tmp"
sync "$tmp"
mv "$tmp" "$conf"

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
running /run/slurmctld.pid || /usr/sbin/slurmctld
running /run/slurmd.pid || /usr/sbin/slurmd
for _ in $(seq 100); do
  if ready; then echo "slurm-test-cluster: running on $host ($cpus CPUs)"; exit 0; fi
  # a node left down by an earlier start comes back
  scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
  sleep 0.2
done
echo "slurm-test-cluster: the node did not come up; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1

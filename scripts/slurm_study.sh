#!/usr/bin/env bash
# A study on a Slurm job array (issue 7, must-show 3), on a single-node Slurm started here: munged,
# slurmctld and slurmd from Debian (apt-get install slurm-wlm munge), configured in a temporary directory
# with this machine as the only node. `quantscope study slurm` writes the array + merge scripts; the
# array's tasks run --shard i/N into per-shard stores, the dependent job merges them; the merged store
# must equal a plain single-process run cell for cell (scripts/compare_stores.py).
# Run as root. CI may run it when slurmctld/slurmd/munged are installed; it exits 77 (skipped) otherwise.
# Usage: scripts/slurm_study.sh [STUDY] [TASKS]   (QS=path/to/quantscope)
set -euo pipefail
cd "$(dirname "$0")/.."
QS=$(realpath "${QS:-build/src/quantscope}")
STUDY=$(realpath "${1:-studies/tiny.json}")
TASKS=${2:-2}
for b in slurmctld slurmd munged sbatch squeue; do
  command -v "$b" >/dev/null || { echo "skipped: $b not installed (apt-get install slurm-wlm munge)"; exit 77; }
done
tmp=$(mktemp -d /tmp/qs-slurm-XXXXXX)
chmod 755 "$tmp"
node=$(hostname -s)
cleanup() {
  [ -f "$tmp/slurmd.pid" ] && kill "$(cat "$tmp/slurmd.pid")" 2>/dev/null || true
  [ -f "$tmp/slurmctld.pid" ] && kill "$(cat "$tmp/slurmctld.pid")" 2>/dev/null || true
  [ -f "$tmp/munged.pid" ] && kill "$(cat "$tmp/munged.pid")" 2>/dev/null || true
  sleep 2  # let the daemons exit before their state directories go
  [ -n "${KEEP:-}" ] || rm -rf "$tmp" || true
}
trap cleanup EXIT

# munge: a fresh key and socket of our own, so nothing outside this directory is touched.
mkdir -p "$tmp/munge"
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
munged --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/socket" \
  --pid-file="$tmp/munged.pid" --log-file="$tmp/munge/log" --seed-file="$tmp/munge/seed"

mkdir -p "$tmp/ctld" "$tmp/d"
cat > "$tmp/slurm.conf" <<CONF
ClusterName=quantscope
SlurmctldHost=$node
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$tmp/ctld
SlurmdSpoolDir=$tmp/d
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
NodeName=$node CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$tmp/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 30); do sinfo -h -o %T 2>/dev/null | grep -qE "idle|mixed" && break; sleep 1; done
sinfo

"$QS" study slurm "$STUDY" --db "$tmp/slurm.db" --tasks "$TASKS" --out "$tmp/jobs"
bash "$tmp/jobs/submit.sh"
for _ in $(seq 1 600); do [ -z "$(squeue -h)" ] && break; sleep 1; done
cat "$tmp"/slurm.slurm-*.out 2>/dev/null | tail -20 || true

"$QS" study run "$STUDY" --db "$tmp/single.db" --cache "$tmp/single.cache" -q
python3 scripts/compare_stores.py "$tmp/slurm.db" "$tmp/single.db"

#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine (Debian packages, as root), for tests/slurm/.
# Idempotent: a cluster that already answers `sinfo` with an idle node is left as it is.
# On success prints "slurm: ready ..." and exits 0; otherwise prints "slurm: unavailable: <reason>" (that
# line also goes to $LLEM_SLURM_STATUS_FILE, which the tests read to skip with the reason) and exits 1.
# Stop it with: bash tests/slurm/setup.sh --stop
set -uo pipefail

STATUS_FILE=${LLEM_SLURM_STATUS_FILE:-/tmp/llem-slurm-status}
CONF_DIR=/etc/slurm
SPOOL=/var/spool/llem-slurm

say() { echo "slurm: $*"; echo "$*" > "$STATUS_FILE"; }
fail() { say "unavailable: $*"; exit 1; }

alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

if [ "${1:-}" = "--stop" ]; then
  for name in slurmd slurmctld munged; do
    pidfile=/run/llem-$name.pid
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -9 "$pid" 2>/dev/null
    rm -f "$pidfile"
  done
  echo "slurm: stopped"
  exit 0
fi

ready() { sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

if command -v sinfo >/dev/null 2>&1 && ready; then
  say "ready (already running): $(sinfo -h -o '%N %T %c CPUs')"
  exit 0
fi
[ "$(id -u)" = 0 ] || fail "needs root to install and start slurmctld, slurmd and munge (running as $(id -un))"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/tmp/llem-slurm-apt.log 2>&1 || fail "apt-get update failed (see /tmp/llem-slurm-apt.log)"
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >>/tmp/llem-slurm-apt.log 2>&1 \
    || fail "apt-get install slurmctld slurmd slurm-client munge failed (see /tmp/llem-slurm-apt.log)"
fi

# munge: a random key owned by munge, then the daemon
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
chmod 0400 /etc/munge/munge.key
chmod 0700 /etc/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --force 2>/tmp/llem-munged.log || fail "munged did not start: $(tail -1 /tmp/llem-munged.log)"
  pgrep -u munge -n munged > /run/llem-munged.pid
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null 2>&1 || fail "munge credentials do not round-trip"
fi

host=$(hostname -s)
cpus=$(nproc)
mem_mib=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
mkdir -p "$CONF_DIR" "$SPOOL/ctld" "$SPOOL/d" /var/log/slurm
cat > "$CONF_DIR/slurm.conf" <<CONF
# written by llem tests/slurm/setup.sh: a single-node test cluster on 127.0.0.1
ClusterName=llem-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=/run/llem-slurmctld.pid
SlurmdPidFile=/run/llem-slurmd.pid
SlurmctldLogFile=/var/log/slurm/llem-slurmctld.log
SlurmdLogFile=/var/log/slurm/llem-slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mib State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
rm -f "$CONF_DIR/cgroup.conf"  # no cgroups: proctrack/linuxproc and task/none need none

pgrep -x slurmctld >/dev/null || slurmctld 2>/tmp/llem-slurmctld.err || fail "slurmctld did not start: $(tail -1 /tmp/llem-slurmctld.err; tail -1 /var/log/slurm/llem-slurmctld.log)"
pgrep -x slurmd >/dev/null || slurmd 2>/tmp/llem-slurmd.err || fail "slurmd did not start: $(tail -1 /tmp/llem-slurmd.err; tail -1 /var/log/slurm/llem-slurmd.log)"

for _ in $(seq 100); do ready && break; sleep 0.2; done
if ! ready; then
  scontrol update nodename="$host" state=resume >/dev/null 2>&1
  for _ in $(seq 50); do ready && break; sleep 0.2; done
fi
ready || fail "the node never became idle: $(sinfo -h -o '%N %T %E' 2>&1 | head -1); $(tail -1 /var/log/slurm/llem-slurmctld.log)"
say "ready: $(sinfo -h -o '%N %T %c CPUs')"

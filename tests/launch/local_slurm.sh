#!/usr/bin/env bash
# A throwaway one-node SLURM on this machine, to run the launch/*.sbatch scripts for real (as root; Debian's
# slurm-wlm and munge packages, no systemd needed):
#
#   tests/launch/local_slurm.sh start DIR     munged, slurmctld and slurmd with their state, logs and
#                                             slurm.conf in DIR; returns once the node takes jobs
#   export SLURM_CONF=DIR/slurm.conf          then sbatch, squeue, scontrol ... talk to it
#   tests/launch/local_slurm.sh stop DIR      stops the three daemons (by their PID files in DIR)
#
# The node is this host (`hostname -s`) with its cores and memory, one partition "local"; cgroups, accounting
# and GPUs are off (proctrack/linuxproc, task/none). LOCAL_SLURM_PORT (default 6817) is slurmctld's port,
# slurmd takes the next one. Requeued jobs wait cred_expire (10 s here, 120 s by default) before they start.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# = 2 ] || usage
DIR=$(mkdir -p "$2" && cd "$2" && pwd)

start() {
  local port=${LOCAL_SLURM_PORT:-6817} host memory
  host=$(hostname -s)
  memory=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)  # MiB, a margin for the OS
  chmod 755 "$DIR"  # munged wants its socket reachable by everyone (the key stays 0600)
  mkdir -p "$DIR/ctld" "$DIR/spool" "$DIR/munge"
  chmod 755 "$DIR/munge"
  [ -f "$DIR/munge/munge.key" ] || mungekey --create --keyfile="$DIR/munge/munge.key"
  cat > "$DIR/slurm.conf" <<EOF
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=$port
SlurmdPort=$(( port + 1 ))
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket,cred_expire=10
CredType=cred/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName=$host CPUs=$(nproc) RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$DIR/slurm.conf
  munged --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" --pid-file="$DIR/munge/munged.pid" \
    --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"
  slurmctld -i  # -i: ignore state a previous run left in DIR
  slurmd
  for _ in $(seq 100); do
    if sinfo -h -N -o %t 2> /dev/null | grep -qx idle; then
      echo "local_slurm.sh: SLURM $(sinfo -V | cut -d' ' -f2) up in $DIR (export SLURM_CONF=$SLURM_CONF)"
      return 0
    fi
    sleep 0.2
  done
  echo "local_slurm.sh: the node did not become idle within 20 s; see $DIR/slurmctld.log, $DIR/slurmd.log" >&2
  stop
  exit 1
}

# Stops each daemon by its PID file and waits until it is gone.
stop() {
  local pidfile pid
  for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munge/munged.pid"; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill "$pid" 2> /dev/null; then
      for _ in $(seq 100); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
  done
}

case $1 in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac

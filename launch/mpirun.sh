#!/usr/bin/env bash
# Starts a vfm command on N ranks with Open MPI's mpirun, on this host or on the hosts of a hostfile:
# one rank per GPU (each picks its GPU by local rank), or on CPU ranks that split the cores.
#
#   launch/mpirun.sh [-n RANKS] [-N RANKS_PER_HOST] [-H HOSTFILE] [--cpu] -- COMMAND [ARGS...]
#
#   launch/mpirun.sh -n 8 -- build/vfm pretrain --flagfile=launch/configs/visionfm.flags
#   launch/mpirun.sh -n 16 -N 8 -H hosts.txt -- build/vfm pretrain --flagfile=...      (2 hosts x 8 GPUs)
#   launch/mpirun.sh -n 2 --cpu -- build/vfm pretrain ...                               (2 CPU ranks)
#
# A hostfile lists one host per line with its slots: "node01 slots=8". RANKS defaults to the GPUs of
# this host (1 without GPUs); RANKS_PER_HOST to RANKS on one host, the GPUs per host with a hostfile.
# Environment passed to every rank (set them before calling to override): OMP_NUM_THREADS (CPU ranks:
# cores / ranks per host; GPU ranks: 4), NCCL_DEBUG (WARN), PATH, and when set LD_LIBRARY_PATH,
# NCCL_SOCKET_IFNAME, NCCL_IB_HCA, NCCL_IB_DISABLE, NCCL_NET_GDR_LEVEL, UCX_NET_DEVICES,
# CUDA_VISIBLE_DEVICES; mpirun itself passes every OMPI_MCA_* variable (tests/multihost/env_test.sh).
# See launch/README.md.
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
ranks="" per_host="" hostfile="" cpu=0
while [ $# -gt 0 ]; do
  case $1 in
    -n|--np) ranks=$2; shift 2 ;;
    -N|--per-host) per_host=$2; shift 2 ;;
    -H|--hostfile) hostfile=$2; shift 2 ;;
    --cpu) cpu=1; shift ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) echo "mpirun.sh: unknown option '$1' (the command comes after --)" >&2; usage ;;
  esac
done
[ $# -gt 0 ] || { echo "mpirun.sh: no command given after --" >&2; usage; }
command -v mpirun >/dev/null || { echo "mpirun.sh: mpirun not found (apt-get install openmpi-bin)" >&2; exit 1; }
[ -z "$hostfile" ] || [ -r "$hostfile" ] || { echo "mpirun.sh: cannot read hostfile '$hostfile'" >&2; exit 1; }

gpus=0
[ $cpu = 1 ] || gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ -z "$ranks" ]; then ranks=$(( gpus > 0 ? gpus : 1 )); fi
if [ -z "$per_host" ]; then
  if [ -n "$hostfile" ] && [ "$gpus" -gt 0 ]; then per_host=$gpus; else per_host=$ranks; fi
fi
if [ "$gpus" -gt 0 ] && [ "$per_host" -gt "$gpus" ]; then
  echo "mpirun.sh: $per_host ranks per host but $gpus GPUs here (one GPU per rank; --cpu for CPU ranks)" >&2
  exit 1
fi

cores=$(nproc)
if [ "$gpus" -gt 0 ]; then
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}   # host-side work only: the data loader has its own pool
else
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( cores / per_host > 0 ? cores / per_host : 1 ))}
fi
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}

args=(-np "$ranks" --map-by "ppr:${per_host}:node" --bind-to none -x OMP_NUM_THREADS -x NCCL_DEBUG -x PATH)
for var in LD_LIBRARY_PATH NCCL_SOCKET_IFNAME NCCL_IB_HCA NCCL_IB_DISABLE NCCL_NET_GDR_LEVEL UCX_NET_DEVICES \
           CUDA_VISIBLE_DEVICES; do
  if [ -n "${!var:-}" ]; then args+=(-x "$var"); fi
done
[ -z "$hostfile" ] || args+=(--hostfile "$hostfile")
# More ranks than cores is allowed (CPU tests on small machines); root needs an explicit yes from Open MPI.
args+=(--oversubscribe)
[ "$(id -u)" != 0 ] || args+=(--allow-run-as-root)

echo "mpirun.sh: $ranks ranks, $per_host per host, OMP_NUM_THREADS=$OMP_NUM_THREADS${hostfile:+, hosts from $hostfile}" >&2
exec mpirun "${args[@]}" "$@"

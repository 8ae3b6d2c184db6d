#!/usr/bin/env bash
# The communicator's tests (tests/distributed/communicator_test.cc: every collective, and the broadcast
# that carries the NCCL id to the other hosts) on 4 ranks over 2 hosts, MPI over TCP.
set -euo pipefail
source "$(dirname "$0")/netns.sh"
netns_up 2
export OMP_NUM_THREADS=1
on_host 0 timeout -s KILL 120 "$SRC/launch/mpirun.sh" -n 4 -N 2 --cpu -H "$NETNS_HOSTFILE" -- \
  "$COMMUNICATOR_TEST" --comm_timeout_s=60

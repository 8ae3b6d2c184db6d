# Shared by the multi-host tests: the trainer tests' tiny dataset and recipe (tests/trainer/common.sh) on
# two hosts in network namespaces (netns.sh). Expects VFM, SRC and WORK, like the trainer tests.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/netns.sh"
source "$SRC/tests/trainer/common.sh"
netns_up 2
export OMP_NUM_THREADS=1

# mpi_run RANKS HOSTS COMMAND...: COMMAND on RANKS ranks spread evenly over the first HOSTS hosts (a
# hostfile of only those: mpirun starts a daemon on every host listed), started by launch/mpirun.sh on
# host 0. The outer time-out (KILL; the EXIT trap cleans up what is left) only keeps a broken test from
# hanging ctest.
mpi_run() {
  local ranks=$1 hosts=$2
  shift 2
  head -n "$hosts" "$NETNS_HOSTFILE" > "$NETNS_HOSTFILE.$hosts"
  on_host 0 timeout -s KILL 150 "$SRC/launch/mpirun.sh" -n "$ranks" -N $(( ranks / hosts )) --cpu \
    -H "$NETNS_HOSTFILE.$hosts" -- "$@"
}

# start_run NAME FLAGS...: `vfm pretrain` on 4 ranks, 2 per host, in the background: run folder $WORK/NAME,
# output in RUN_LOG ($WORK/NAME.log), mpirun's PID in RUN_PID.
start_run() {
  local name=$1
  shift
  RUN_LOG=$WORK/$name.log
  mpi_run 4 2 "$VFM" pretrain "$@" --run_dir="$WORK/$name" > "$RUN_LOG" 2>&1 &
  RUN_PID=$!
}

# wait_for_checkpoint RUN STEP: until RUN holds the checkpoint of STEP (at most 60 s).
wait_for_checkpoint() {
  local dir=$1/ckpt-$(printf %08d "$2")
  for _ in $(seq 600); do [ -f "$dir/MANIFEST.json" ] && return 0; sleep 0.1; done
  echo "FAIL: no $dir after 60 s"
  exit 1
}

# The PIDs of the live vfm ranks on host I (not zombies: a daemon cut off by a fault may not reap them).
vfm_pids() {
  local p name=$(basename "$VFM" | cut -c1-15)
  for p in $(host_pids "$1"); do
    [ "$(cat "/proc/$p/comm" 2> /dev/null)" = "$name" ] && [ "$(cut -d' ' -f3 "/proc/$p/stat" 2> /dev/null)" != Z ] &&
      echo "$p"
  done
  true
}

# wait_ranks_gone LIMIT_S: waits until no vfm rank is left on any host, GONE_AFTER seconds; fails past LIMIT_S.
wait_ranks_gone() {
  local start=$SECONDS
  while [ -n "$(vfm_pids 0)$(vfm_pids 1)" ]; do
    (( SECONDS - start <= $1 )) || fail_with_log "ranks still running $1 s later" "$RUN_LOG"
    sleep 0.2
  done
  GONE_AFTER=$(( SECONDS - start ))
}

fail_with_log() {
  echo "FAIL: $1"
  echo "--- $2 ---"
  cat "$2"
  exit 1
}

#!/usr/bin/env bash
# A host whose ranks freeze (SIGSTOP: a stalled node, a debugger, swapping) and come back (SIGCONT): frozen
# for 3 s, under --comm_timeout_s (8 s), the run goes on and finishes with the weights of 1 rank; frozen
# past it, the other ranks end the job within the time-out plus its probe, rank 0 naming the frozen ranks
# and their host, and mpirun exits with an error (it kills the frozen ranks: SIGKILL needs no SIGCONT).
# Without the time-out (checked by hand with --comm_timeout_s=1000) the second run never ends: this test
# then fails on its 20 s bound (8 s + 2 s of probe + 10 s of slack for a loaded machine).
source "$(dirname "$0")/common.sh"
FLAGS=("${TINY[@]}" --drop_path=0 --checkpoint_every=4 --comm_timeout_s=8)

"$VFM" pretrain "${FLAGS[@]}" --max_steps=16 --run_dir="$WORK/one" > "$WORK/one.log"
start_run short "${FLAGS[@]}" --max_steps=16
wait_for_checkpoint "$WORK/short" 4
kill -STOP $(vfm_pids 1)
sleep 3
kill -CONT $(vfm_pids 1)
wait $RUN_PID || fail_with_log "the run did not survive a 3 s freeze" "$RUN_LOG"
/usr/bin/python3 "$HERE/../trainer/compare_runs.py" "$WORK/one" "$WORK/short" 16

start_run long "${FLAGS[@]}" --epochs=50
wait_for_checkpoint "$WORK/long" 4
frozen=$(vfm_pids 1)
kill -STOP $frozen
start=$SECONDS
while [ -n "$(vfm_pids 0)" ]; do
  (( SECONDS - start <= 20 )) || fail_with_log "the ranks of vfm-h0 still run $(( SECONDS - start )) s after the freeze" "$RUN_LOG"
  sleep 0.2
done
echo "frozen past the time-out: the ranks of vfm-h0 gone after $(( SECONDS - start )) s"
wait $RUN_PID && fail_with_log "the job exited with status 0" "$RUN_LOG"
wait_ranks_gone 10
grep -E "vfm rank 0/4: .*did not complete within 8 s.*from rank 2 on vfm-h1, rank 3 on vfm-h1" "$RUN_LOG" ||
  fail_with_log "rank 0 did not name the frozen ranks" "$RUN_LOG"
echo PASS

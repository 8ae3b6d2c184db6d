#!/usr/bin/env bash
# A host cut off mid-run (its link to the bridge taken down) ends the job: every rank exits within
# --comm_timeout_s (8 s) plus its probe of who still answers (a quarter of it), rank 0 naming the ranks
# of the lost host; the newest checkpoint is intact and a restart on the remaining host resumes from it.
# mpirun itself waits for its daemon on the lost host until TCP gives up on it (minutes: the
# retransmissions of its kill order), so the test ends it, as a person or the scheduler would.
# Without the time-out (checked by hand with --comm_timeout_s=1000) nothing ends the ranks: this test then
# fails on its 20 s bound (8 s + 2 s of probe + 10 s of slack for a loaded machine).
source "$(dirname "$0")/common.sh"
FLAGS=("${TINY[@]}" --epochs=50 --checkpoint_every=2 --comm_timeout_s=8)
start_run run "${FLAGS[@]}"
wait_for_checkpoint "$WORK/run" 4
link_down 1
wait_ranks_gone 20
echo "link down: every rank gone after $GONE_AFTER s"
kill -KILL $(pgrep -x mpirun | grep -Fx "$(host_pids 0)") 2> /dev/null || true
wait $RUN_PID && fail_with_log "the job exited with status 0" "$RUN_LOG"
grep -E "vfm rank 0/4: .*did not complete within 8 s.*from rank 2 on vfm-h1, rank 3 on vfm-h1" "$RUN_LOG" ||
  fail_with_log "rank 0 did not name the ranks of vfm-h1" "$RUN_LOG"

newest=$(ls -d "$WORK"/run/ckpt-* | sort | tail -1)
steps=$(( 10#${newest##*ckpt-} ))
mpi_run 2 1 "$VFM" pretrain "${FLAGS[@]}" --run_dir="$WORK/run" --max_steps=$(( steps + 2 )) > "$WORK/restart.log" 2>&1 ||
  fail_with_log "the restart on vfm-h0 failed" "$WORK/restart.log"
grep "resuming from $newest " "$WORK/restart.log" || fail_with_log "the restart did not resume from $newest" "$WORK/restart.log"
grep -q "written by 4 ranks, continuing on 2" "$WORK/restart.log" || fail_with_log "not 4 -> 2 ranks" "$WORK/restart.log"
echo PASS

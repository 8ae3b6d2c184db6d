#!/usr/bin/env bash
# Preemption under several ranks: SIGUSR1 (SLURM's --signal) sent to one non-lead rank only stops both ranks
# after the same step: a checkpoint of that step is written and verifies, the job exits with status 3, the
# lead names the stop, and the run resumes from the checkpoint on 2 ranks.
source "$(dirname "$0")/common.sh"
fail() { echo "FAIL: $*"; exit 1; }
MPI=(mpirun -np 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1 -x OMPI_MCA_btl_vader_single_copy_mechanism=none)
FLAGS=("${TINY[@]}" --epochs=200 --log_every=1 --checkpoint_every=1000 --data_threads=1)
"${MPI[@]}" "$VFM" pretrain "${FLAGS[@]}" --run_dir="$WORK/run" > "$WORK/long.log" 2>&1 &
job=$!
until grep -q "^step 2/" "$WORK/long.log" 2>/dev/null; do kill -0 $job || { cat "$WORK/long.log"; fail "the 2-rank run died"; }; sleep 0.05; done
# Rank 1's process: the vfm whose environment says OMPI_COMM_WORLD_RANK=1.
rank1=""
for pid in $(pgrep -f "vfm pretrain .*--run_dir=$WORK/run"); do
  tr '\0' '\n' < /proc/$pid/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && rank1=$pid
done
[ -n "$rank1" ] || fail "rank 1's process not found"
kill -USR1 "$rank1"
rc=0; timeout 120 tail --pid=$job -f /dev/null || fail "the ranks did not stop within 120 s of SIGUSR1 to rank 1"
wait $job || rc=$?
[ $rc = 3 ] || { cat "$WORK/long.log"; fail "SIGUSR1 to rank 1: job exit status $rc, expected 3"; }
grep -q "stopping at step .* on a signal to another rank: checkpoint written" "$WORK/long.log" ||
  { cat "$WORK/long.log"; fail "the lead did not name the stop"; }
stopped=$(sed -n 's/stopping at step \([0-9]*\) on .*/\1/p' "$WORK/long.log")
ckpt="$WORK/run/$(printf 'ckpt-%08d' "$stopped")"
[ -f "$ckpt/MANIFEST.json" ] || fail "no complete checkpoint at step $stopped"
"$VFM" inspect "$ckpt" > /dev/null || fail "the checkpoint at step $stopped does not verify"
"${MPI[@]}" "$VFM" pretrain "${FLAGS[@]}" --run_dir="$WORK/run" --max_steps=$((stopped + 2)) > "$WORK/resume.log" 2>&1 ||
  { cat "$WORK/resume.log"; fail "the resume on 2 ranks failed"; }
grep -q "resuming from .*(step $stopped," "$WORK/resume.log" || { cat "$WORK/resume.log"; fail "the resume did not start at step $stopped"; }
echo "ranks signal: SIGUSR1 to rank 1 stopped both ranks at step $stopped (status 3, checkpoint verifies, resumes on 2 ranks)"

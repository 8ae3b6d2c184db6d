#!/usr/bin/env bash
# 4 ranks on 2 hosts (namespaces, MPI over TCP) log the same loss and reach the same weights as 1 rank with
# the same global batch (16: 4 per rank), and the 4-rank checkpoint of step 4 resumes on 2 hosts x 1 rank
# and on 1 rank to the weights of the uninterrupted 1-rank run (tolerances: compare_runs.py).
source "$(dirname "$0")/common.sh"
FLAGS=("${TINY[@]}" --drop_path=0 --checkpoint_every=4 --max_steps=8 --log_every=1)
"$VFM" pretrain "${FLAGS[@]}" --run_dir="$WORK/one" > "$WORK/one.log"
mpi_run 4 2 "$VFM" pretrain "${FLAGS[@]}" --run_dir="$WORK/four" > "$WORK/four.log" 2>&1
/usr/bin/python3 "$HERE/../trainer/compare_runs.py" "$WORK/one" "$WORK/four" 8 --loss
for to in two one; do
  mkdir "$WORK/four_$to" && cp -r "$WORK/four/ckpt-00000004" "$WORK/four_$to/"
done
mpi_run 2 2 "$VFM" pretrain "${FLAGS[@]}" --run_dir="$WORK/four_two" > "$WORK/four_two.log" 2>&1
"$VFM" pretrain "${FLAGS[@]}" --run_dir="$WORK/four_one" > "$WORK/four_one.log"
for to in two one; do
  grep -q "written by 4 ranks, continuing on" "$WORK/four_$to.log" || { echo "FAIL: 4 -> $to did not resume"; exit 1; }
  /usr/bin/python3 "$HERE/../trainer/compare_runs.py" "$WORK/one" "$WORK/four_$to" 8
done
echo PASS

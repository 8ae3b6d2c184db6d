#!/usr/bin/env bash
# A rank that dies or hangs must not leave the others waiting: with rank 1 killed, then with rank 1 hung,
# the 2-rank job must end with a non-zero status within 60 s, and say why.
# Usage: dead_rank_test.sh MPIEXEC DEAD_RANK_BINARY
set -u
mpiexec=$1 binary=$2
fail() { echo "FAIL: $*"; echo "--- job output ---"; echo "$out"; exit 1; }

for mode in kill hang; do
  start=$(date +%s)
  # The outer timeout only stops a broken test from hanging ctest; 60 s is the bound under test.
  out=$(timeout -s KILL 120 "$mpiexec" -np 2 --oversubscribe --allow-run-as-root \
        "$binary" --mode=$mode --comm_timeout_s=5 2>&1)
  rc=$? elapsed=$(( $(date +%s) - start ))
  echo "mode=$mode: exit status $rc after ${elapsed} s"
  [ $rc -ne 0 ] || fail "$mode: the job exited with status 0"
  [ $elapsed -lt 60 ] || fail "$mode: the job took ${elapsed} s to end"
  if [ $mode = hang ]; then
    # Our time-out, not the launcher, ends this one: rank 0 names itself, the collective and the silent rank.
    echo "$out" | grep -q "vfm rank 0/2: .*all_reduce #3 .* did not complete within 5 s.*no answer within .* from rank 1 on " ||
      fail "hang: no time-out message from rank 0 naming rank 1"
  else
    # A dead process is noticed by mpirun (which then ends the job) or by our time-out, whichever is first.
    echo "$out" | grep -q -E "signal 9|Killed|did not complete within" || fail "kill: no message about the dead rank"
  fi
  echo "$out" | grep -E "vfm rank|signal|Killed" | head -3
done
echo "PASS"

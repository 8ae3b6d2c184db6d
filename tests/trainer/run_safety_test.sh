#!/usr/bin/env bash
# What protects a run folder (issue "nothing is lost"): a second `vfm pretrain` on a locked folder is
# refused naming the holder; --resume=false refuses a folder with checkpoints; checkpoints that all fail
# their checksums are not silently replaced by a new run; a resume with a changed run-defining flag is
# refused unless --allow_changed_flags names it; metrics.jsonl is cut back to the resumed step; SIGTERM,
# SIGINT and SIGUSR1 finish the step, write a checkpoint and exit with status 3, and the run resumes.
source "$(dirname "$0")/common.sh"
fail() { echo "FAIL: $*"; exit 1; }
expect_refusal() {  # expect_refusal LOG PATTERN -- command...
  local log=$1 pattern=$2; shift 3
  if "$@" > "$log" 2>&1; then fail "accepted: $*"; fi
  grep -q "$pattern" "$log" || { cat "$log"; fail "no '$pattern' in the message"; }
}
RUN=(--run_dir="$WORK/run" --checkpoint_every=4 --epochs=10000)

# The lock: a long run holds the folder; a second one is refused, naming the holder.
"$VFM" pretrain "${TINY[@]}" "${RUN[@]}" --max_steps=100000 > "$WORK/long.log" 2>&1 &
pid=$!
until grep -q "^step 4/" "$WORK/long.log" 2>/dev/null; do kill -0 $pid || fail "the long run died"; sleep 0.05; done
expect_refusal "$WORK/second.log" "in use by another vfm process (pid $pid on" -- "$VFM" pretrain "${TINY[@]}" "${RUN[@]}"
# SIGTERM: the step in flight ends, a checkpoint is written, status 3.
kill -TERM $pid
set +e; wait $pid; rc=$?; set -e
[ $rc = 3 ] || { cat "$WORK/long.log"; fail "SIGTERM: exit status $rc, expected 3"; }
grep -q "stopping at step .* on SIGTERM: checkpoint written" "$WORK/long.log" || fail "SIGTERM: no stop message"
stopped=$(sed -n 's/stopping at step \([0-9]*\) on SIGTERM.*/\1/p' "$WORK/long.log")
[ -d "$WORK/run/$(printf 'ckpt-%08d' "$stopped")" ] || fail "SIGTERM: no checkpoint at step $stopped"

# Resume: metrics.jsonl holds no step past the checkpoint's, once each.
"$VFM" pretrain "${TINY[@]}" "${RUN[@]}" --max_steps=$((stopped + 4)) > "$WORK/resume.log" 2>&1 || fail "resume"
grep -q "resuming from .*$(printf 'ckpt-%08d' "$stopped")" "$WORK/resume.log" || fail "did not resume"
/usr/bin/python3 - "$WORK/run/metrics.jsonl" <<'PY' || fail "metrics.jsonl repeats steps"
import json, sys
steps = [json.loads(l)["step"] for l in open(sys.argv[1])]
assert steps == sorted(set(steps)), steps
PY

# SIGUSR1 and SIGINT stop the same way.
for sig in USR1 INT; do
  "$VFM" pretrain "${TINY[@]}" "${RUN[@]}" --max_steps=100000 \
    > "$WORK/$sig.log" 2>&1 &
  pid=$!
  until grep -q "^step" "$WORK/$sig.log" 2>/dev/null; do kill -0 $pid || fail "$sig run died"; sleep 0.05; done
  kill -$sig $pid
  set +e; wait $pid; rc=$?; set -e
  [ $rc = 3 ] || { cat "$WORK/$sig.log"; fail "SIG$sig: exit status $rc, expected 3"; }
  grep -q "on SIG$sig: checkpoint written" "$WORK/$sig.log" || fail "SIG$sig: no stop message"
done

# A changed flag that defines the run is refused, unless allowed.
expect_refusal "$WORK/changed.log" "\-\-batch 16 -> 32" -- "$VFM" pretrain "${TINY[@]}" "${RUN[@]}" --batch=32
"$VFM" pretrain "${TINY[@]}" "${RUN[@]}" --lr=1e-4 --max_steps=100000 --allow_changed_flags=lr \
  --max_minutes=0.001 > "$WORK/allowed.log" 2>&1 || { cat "$WORK/allowed.log"; fail "an allowed change was refused"; }
# --resume=false on a folder with checkpoints.
expect_refusal "$WORK/fresh.log" "resume=false but --run_dir" -- "$VFM" pretrain "${TINY[@]}" "${RUN[@]}" --resume=false
# Every checkpoint corrupt: refused, and nothing deleted.
mkdir -p "$WORK/corrupt" && cp -r "$WORK/run"/ckpt-* "$WORK/corrupt/"
for c in "$WORK/corrupt"/ckpt-*; do printf 'x' | dd of="$c/student.safetensors" bs=1 seek=100 conv=notrunc 2>/dev/null; done
before=$(ls "$WORK/corrupt" | sort)
expect_refusal "$WORK/corrupt.log" "none verifies" -- "$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/corrupt"
[ "$(ls "$WORK/corrupt" | grep -v '^\.lock$' | sort)" = "$before" ] || fail "the corrupt run's folder changed"
echo "run safety: lock, stop signals (TERM, USR1, INT -> status 3), metrics cut back, changed flags, resume=false, corrupt checkpoints"

#!/usr/bin/env bash
# A run killed with SIGKILL at random moments (also during checkpoint writes: one every step) resumes
# from its last complete checkpoint each time, and ends byte-identical to a run never interrupted.
# Kills are placed by progress, not by wall time, so they land mid-run on a fast machine too.
source "$(dirname "$0")/common.sh"
STEPS=32
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/straight" --max_steps=$STEPS --checkpoint_every=1 > "$WORK/straight.log"
newest() { ls -d "$WORK"/killed/ckpt-* 2>/dev/null | sed 's/.*ckpt-0*//' | sort -n | tail -1; }
kills=0
for target in 3 8 14 21 27; do
  "$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/killed" --max_steps=$STEPS --checkpoint_every=1 >> "$WORK/killed.log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && [ "$(newest || echo 0)" -lt "$target" ] 2>/dev/null; do sleep 0.005; done
  # A random extra delay of 0-40 ms puts the kill anywhere in the next step, checkpoint write included.
  sleep "0.0$(( (target * 7919) % 40 ))"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
done
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/killed" --max_steps=$STEPS --checkpoint_every=1 >> "$WORK/killed.log" 2>&1
resumes=$(grep -c "resuming from" "$WORK/killed.log" || true)
echo "kill: $kills kills mid-run, $resumes resumes"
[ "$kills" -ge 4 ] || { echo "FAIL: the run finished before most kills"; exit 1; }
[ "$resumes" -ge 4 ] || { echo "FAIL: expected the killed run to resume after each kill"; exit 1; }
for f in student.safetensors teacher.safetensors optimizer.safetensors loss.safetensors; do
  cmp "$WORK/straight/ckpt-000000$STEPS/$f" "$WORK/killed/ckpt-000000$STEPS/$f" || { echo "FAIL: $f differs"; exit 1; }
done
if ls -d "$WORK"/killed/.tmp-* 2>/dev/null; then echo "FAIL: temporary checkpoint left behind"; exit 1; fi
echo "kill: killed and resumed run == uninterrupted run, byte for byte"

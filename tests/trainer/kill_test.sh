#!/usr/bin/env bash
# A run killed with SIGKILL at random moments (also during checkpoint writes: one every step) resumes
# from its last complete checkpoint each time, and ends byte-identical to a run never interrupted.
source "$(dirname "$0")/common.sh"
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/straight" --max_steps=20 --checkpoint_every=1 > "$WORK/straight.log"
for i in 1 2 3 4 5; do
  "$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/killed" --max_steps=20 --checkpoint_every=1 >> "$WORK/killed.log" 2>&1 &
  pid=$!
  sleep "$(/usr/bin/python3 -c "import random; random.seed($i); print(round(random.uniform(0.3, 2.5), 2))")"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  "$VFM" inspect "$WORK/killed" > /dev/null 2>&1 || echo "kill $i: no complete checkpoint yet"
done
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/killed" --max_steps=20 --checkpoint_every=1 >> "$WORK/killed.log" 2>&1
resumes=$(grep -c "resuming from" "$WORK/killed.log" || true)
echo "kill: $resumes resumes after 5 kills"
[ "$resumes" -ge 2 ] || { echo "FAIL: expected the killed run to resume"; exit 1; }
for f in student.safetensors teacher.safetensors optimizer.safetensors loss.safetensors; do
  cmp "$WORK/straight/ckpt-00000020/$f" "$WORK/killed/ckpt-00000020/$f" || { echo "FAIL: $f differs"; exit 1; }
done
if ls -d "$WORK"/killed/.tmp-* 2>/dev/null; then echo "FAIL: temporary checkpoint left behind"; exit 1; fi
echo "kill: killed and resumed run == uninterrupted run, byte for byte"

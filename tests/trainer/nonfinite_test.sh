#!/usr/bin/env bash
# A run whose loss goes non-finite stops with an error naming the step, and writes no checkpoint with
# non-finite values (every checkpoint left verifies and holds finite weights).
source "$(dirname "$0")/common.sh"
set +e
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/nan" --max_steps=30 --checkpoint_every=1 --lr=1e30 --clip_grad=0 \
  > "$WORK/nan.log" 2>&1
status=$?
set -e
cat "$WORK/nan.log" | tail -3
[ "$status" -ne 0 ] || { echo "FAIL: exit status 0"; exit 1; }
grep -q "non-finite loss .* at step [0-9]" "$WORK/nan.log" || { echo "FAIL: no message naming the step"; exit 1; }
/usr/bin/python3 - "$WORK/nan" <<'PY'
import glob, math, sys
from safetensors.numpy import load_file
import numpy as np
for d in glob.glob(f"{sys.argv[1]}/ckpt-*"):
    for f in ("student", "teacher", "optimizer", "loss"):
        for k, v in load_file(f"{d}/{f}.safetensors").items():
            assert np.isfinite(v).all(), f"{d}/{f}:{k} is not finite"
print("nonfinite: every checkpoint left is finite")
PY

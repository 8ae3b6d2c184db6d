#!/usr/bin/env bash
# The logged loss is the global batch's under any number of ranks: 2 ranks with per-rank batch 8 log the
# same loss and parts (progress line and metrics.jsonl) as 1 rank with batch 16 (drop path off; the
# weights agree to float summation order, so the losses do to ~1e-5).
source "$(dirname "$0")/common.sh"
FLAGS=("${TINY[@]}" --drop_path=0 --checkpoint_every=100 --max_steps=8 --log_every=1)
"$VFM" pretrain "${FLAGS[@]}" --run_dir="$WORK/one" > "$WORK/one.log"
mpirun -np 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1 -x OMPI_MCA_btl_vader_single_copy_mechanism=none \
  "$VFM" pretrain "${FLAGS[@]}" --run_dir="$WORK/two" > "$WORK/two.log" 2>&1
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
one, two = ([json.loads(l) for l in open(f"{w}/{r}/metrics.jsonl")] for r in ("one", "two"))
assert [m["step"] for m in one] == [m["step"] for m in two] == list(range(1, 9))
worst = max(abs(a[k] - b[k]) / abs(a[k]) for a, b in zip(one, two) for k in ("loss", "cls_loss", "patch_loss"))
print(f"ranks loss: 1 rank vs 2 ranks, worst relative difference of the logged loss and parts over 8 steps: {worst:.2e}")
assert worst < 1e-4, worst
PY

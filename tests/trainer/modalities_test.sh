#!/usr/bin/env bash
# --modalities, --modality_weights and --synthetic_ratio: part of the deterministic data order (two runs
# give the same bytes) and of exact resume (N straight == N/2 + resume + N/2); a resume with another mix is
# refused; bad values are refused naming the flag. The dataset: the tiny Fashion-MNIST slice as PNGs of two
# modalities, a quarter of them synthetic, through a CSV.
source "$(dirname "$0")/common.sh"
/usr/bin/python3 - "$WORK" <<'PY'
import sys
import numpy as np
from PIL import Image
w = sys.argv[1]
images = np.frombuffer(open(f"{w}/images.idx", "rb").read()[16:], np.uint8).reshape(-1, 28, 28)
with open(f"{w}/list.csv", "w") as f:
    for i, im in enumerate(images):
        Image.fromarray(im).save(f"{w}/img{i}.png")
        f.write(f"img{i}.png,{'ab'[i % 2]},{i % 10},,{int(i % 4 == 1)}\n")
PY
"$VFM" shard --csv="$WORK/list.csv" --output="$WORK/mixed" > /dev/null 2>&1
M=("${TINY[@]}" --data="$WORK/mixed" --modality_weights=a:2,b:1 --synthetic_ratio=0.5 --checkpoint_every=100)
"$VFM" pretrain "${M[@]}" --run_dir="$WORK/straight" --max_steps=12 > "$WORK/straight.log"
"$VFM" pretrain "${M[@]}" --run_dir="$WORK/again" --max_steps=12 > /dev/null
"$VFM" pretrain "${M[@]}" --run_dir="$WORK/split" --max_steps=6 > /dev/null
"$VFM" pretrain "${M[@]}" --run_dir="$WORK/split" --max_steps=12 > "$WORK/split2.log"
grep -q "resuming from .*ckpt-00000006" "$WORK/split2.log" || { echo "FAIL: the second run did not resume"; exit 1; }
for f in student.safetensors teacher.safetensors optimizer.safetensors loss.safetensors; do
  cmp "$WORK/straight/ckpt-00000012/$f" "$WORK/again/ckpt-00000012/$f"
  cmp "$WORK/straight/ckpt-00000012/$f" "$WORK/split/ckpt-00000012/$f"
done
# One modality: 128 samples of b = 8 steps of 16 per epoch.
"$VFM" pretrain "${TINY[@]}" --data="$WORK/mixed" --modalities=b --run_dir="$WORK/b" --max_steps=2 > "$WORK/b.log"
grep -q "8 steps/epoch" "$WORK/b.log" || { echo "FAIL: --modalities=b"; cat "$WORK/b.log"; exit 1; }
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
flags = json.load(open(f"{sys.argv[1]}/straight/flags.json"))
assert flags["modality_weights"] == "a:2,b:1" and flags["synthetic_ratio"] == "0.5", flags
assert json.load(open(f"{sys.argv[1]}/b/flags.json"))["modalities"] == "b"
PY
refused 1 "modality_weights a:2,b:1 -> a:1,b:1" \
  "$VFM" pretrain "${TINY[@]}" --data="$WORK/mixed" --modality_weights=a:1,b:1 --synthetic_ratio=0.5 \
  --run_dir="$WORK/split" --max_steps=14
refused 2 "^vfm pretrain: --modality_weights must be NAME:WEIGHT" "$VFM" pretrain "${M[@]}" --run_dir="$WORK/x" --modality_weights=a
refused 2 "^vfm pretrain: --modality_weights names b, which --modalities leaves out" \
  "$VFM" pretrain "${M[@]}" --run_dir="$WORK/x" --modalities=a
refused 2 "^vfm pretrain: --synthetic_ratio must be in" "$VFM" pretrain "${M[@]}" --run_dir="$WORK/x" --synthetic_ratio=-0.5
refused 1 "modality 'c' selected: the dataset has none" "$VFM" pretrain "${TINY[@]}" --data="$WORK/mixed" --modalities=c --run_dir="$WORK/x"
# In-run evaluations of a run on some modalities use their samples only: on b alone the figures of
# `vfm eval --modalities=b`; on a and b each modality's and those over both (here: every sample).
E=(--eval_data="$WORK/mixed" --eval_test_data="$WORK/mixed" --eval_every=4 --max_steps=4)
"$VFM" pretrain "${TINY[@]}" --data="$WORK/mixed" --modalities=b "${E[@]}" --run_dir="$WORK/eval_b" > "$WORK/eval_b.log"
"$VFM" pretrain "${TINY[@]}" --data="$WORK/mixed" --modalities=a,b "${E[@]}" --run_dir="$WORK/eval_ab" > "$WORK/eval_ab.log"
grep -qE "^eval at step 4 \| kNN top-1 [0-9.]+% top-5 [0-9.]+% \| a kNN top-1 [0-9.]+% \| b kNN top-1 [0-9.]+%$" \
  "$WORK/eval_ab.log" || { echo "FAIL: no per-modality eval line"; cat "$WORK/eval_ab.log"; exit 1; }
knn() {  # RUN NAME [FLAGS]: vfm eval knn of RUN's checkpoint into RUN/knn_NAME.json (at the evals' 16 px)
  "$VFM" eval knn --data="$WORK/mixed" --test_data="$WORK/mixed" --eval_size=16 --eval_resize=18 \
    --checkpoint="$WORK/$1/ckpt-00000004" --json_out="$WORK/$1/knn_$2.json" "${@:3}" > /dev/null 2>&1
}
knn eval_b b --modalities=b
knn eval_ab every
knn eval_ab all --modalities=all
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
def last_eval(run):
    return [j for j in map(json.loads, open(f"{w}/{run}/metrics.jsonl")) if j["kind"] == "eval"][-1]
def vfm_eval(run, name):
    return json.load(open(f"{w}/{run}/knn_{name}.json"))
def per(run, name):
    return {r["modality"]: r["top1"] for r in vfm_eval(run, name)["per_modality"]}
b, ab = last_eval("eval_b"), last_eval("eval_ab")
assert "per_modality" not in b and abs(b["knn_top1"] - per("eval_b", "b")["b"]) < 1e-9, (b, per("eval_b", "b"))
assert abs(ab["knn_top1"] - vfm_eval("eval_ab", "every")["top1"]) < 1e-9, (ab, vfm_eval("eval_ab", "every"))
want = per("eval_ab", "all")
assert set(ab["per_modality"]) == {"a", "b"}, ab
for m in "ab":
    assert abs(ab["per_modality"][m]["knn_top1"] - want[m]) < 1e-9, (m, ab, want)
print("in-run evals per modality:", b["knn_top1"], ab)
PY
refused 1 "--eval_data $WORK/data has no samples of 'b'" \
  "$VFM" pretrain "${TINY[@]}" --data="$WORK/mixed" --modalities=b "${E[@]}" --eval_data="$WORK/data" --run_dir="$WORK/x"
echo "modalities: same bytes twice, resume exact, one modality's epoch, bad mixes refused, in-run evals per modality"

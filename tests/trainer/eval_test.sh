#!/usr/bin/env bash
# vfm eval knn|linear on a tiny labelled set: top-1 printed and written as JSON, features written with
# their sample ids, the pixel baseline and the untrained (--init=random) encoder, and bad flags refused.
source "$(dirname "$0")/common.sh"
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/run" --max_steps=2 > "$WORK/pretrain.log"
E=(--data="$WORK/data" --test_data="$WORK/data" --eval_size=16 --eval_resize=16 --probe_epochs=20)
"$VFM" eval knn "${E[@]}" --checkpoint="$WORK/run" --json_out="$WORK/knn.json" --features_out="$WORK/f.safetensors"
"$VFM" eval knn "${E[@]}" --checkpoint="$WORK/run" --init=random --json_out="$WORK/knn_random.json" \
  --features_out="$WORK/f_random.safetensors"
"$VFM" eval linear "${E[@]}" --encoder=pixels --json_out="$WORK/linear_pixels.json"
"$VFM" eval linear "${E[@]}" --checkpoint="$WORK/run" --n_last_blocks=1 --json_out="$WORK/linear.json"
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
from safetensors.numpy import load_file
w = sys.argv[1]
knn, rnd = json.load(open(f"{w}/knn.json")), json.load(open(f"{w}/knn_random.json"))
lin, pix = json.load(open(f"{w}/linear.json")), json.load(open(f"{w}/linear_pixels.json"))
# Train == test here, so each test sample is its own nearest neighbour: kNN is far above chance (10%).
assert knn["top1"] > 50 and rnd["top1"] > 50 and knn["test_samples"] == 256, (knn, rnd)
assert rnd["init"] == "random" and knn["init"] == "trained"
# A linear probe fits 256 pixel vectors of 256 dimensions (nearly separable) well.
assert pix["top1"] > 80 and pix["feature_dim"] == 3 * 16 * 16, pix
assert 0 <= lin["top1"] <= 100 and lin["feature_dim"] == 192, lin
f = load_file(f"{w}/f.safetensors")
assert f["train.features"].shape == (256, 192) and f["test.ids"].tolist() == list(range(256)), f["train.features"].shape
assert f["train.labels"].shape == (256,)
r = load_file(f"{w}/f_random.safetensors")  # the untrained encoder: the init, not the (moved) teacher
assert r["train.features"].shape == (256, 192) and (r["train.features"] != f["train.features"]).any()
print("eval: knn", knn["top1"], "random", rnd["top1"], "linear", lin["top1"], "pixels linear", pix["top1"])
PY
if "$VFM" eval knn "${E[@]}" --checkpoint="$WORK/run" --encoder=bogus 2> "$WORK/bad.log"; then
  echo "FAIL: --encoder=bogus accepted"; exit 1
fi
grep -q "encoder" "$WORK/bad.log" || { echo "FAIL: the error does not name --encoder"; exit 1; }
echo "eval: ok"

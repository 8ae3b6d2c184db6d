#!/usr/bin/env bash
# The main job: on a fresh machine, install and build, convert Fashion-MNIST (Debian's dataset-fashion-mnist)
# to shards, pretrain the small CPU recipe (launch/configs/cpu_small.flags) for a time budget (its lr /
# weight-decay / EMA schedules sized to the budget from the measured throughput, so they finish), evaluate
# kNN on the test set (vfm's teacher, the same architecture untrained, raw pixels), export the teacher for
# timm/PyTorch, draw the run's plots (vfm report) and print their paths and one summary table.
# Usage: bash run.sh [minutes of pretraining, default 10]
set -euo pipefail
cd "$(dirname "$0")"
minutes=${1:-10}
bash setup.sh build
vfm=build/vfm
out=runs/main
data=runs/fashion-mnist
src=/usr/share/datasets/fashion-mnist
mkdir -p runs
for split in train t10k; do
  name=$([ $split = train ] && echo train || echo test)
  # A dataset from an older vfm (format_version below data/shard_format.h's kFormatVersion, 2) is rebuilt.
  if [ -f "$data/$name/index.json" ] && ! grep -Eq '"format_version": *2[,}[:space:]]' "$data/$name/index.json"; then
    echo "run.sh: $data/$name has an older shard format; re-sharding it"
    rm -rf "${data:?}/$name"
  fi
  [ -f "$data/$name/index.json" ] || "$vfm" shard --idx_images="$src/$split-images-idx3-ubyte.gz" \
    --idx_labels="$src/$split-labels-idx1-ubyte.gz" --output="$data/$name" --modality=fashion
done

# --eval_every: the teacher's kNN on the test set during the run (its curve in the report's eval_images.png), on
# the whole 28x28 image as the table below (without --eval_resize=28: the centre 28 of the image resized to 32).
"$vfm" pretrain --flagfile=launch/configs/cpu_small.flags --data="$data/train" --run_dir="$out" --budget_minutes="$minutes" \
  --eval_every=2500 --eval_data="$data/train" --eval_test_data="$data/test" --eval_size=28 --eval_resize=28
eval_flags=(--data="$data/train" --test_data="$data/test" --checkpoint="$out" --eval_size=28 --eval_resize=28)
"$vfm" eval knn "${eval_flags[@]}" --json_out="$out/knn_vfm.json"
"$vfm" eval knn "${eval_flags[@]}" --init=random --json_out="$out/knn_random.json"
"$vfm" eval knn "${eval_flags[@]}" --encoder=pixels --json_out="$out/knn_pixels.json"
"$vfm" export --checkpoint="$out" --out="$out/teacher.safetensors" --overwrite
echo "plots of the run (loss, schedules, throughput) and summary.md:"
"$vfm" report "$out" --out="$out/report"

/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
r = {k: json.load(open(f"{out}/knn_{k}.json")) for k in ("vfm", "random", "pixels")}
state = json.load(open(sorted(__import__("glob").glob(f"{out}/ckpt-*/state.json"))[-1]))
images = state.get("compute", {}).get("images_seen", "?")
print(f"\nFashion-MNIST test, weighted kNN (k=20) top-1, vfm pretrained {state['step']} steps ({images} images):")
print(f"  {'encoder':<34}{'top-1':>8}")
print(f"  {'vfm teacher (iBOT pretrained)':<34}{r['vfm']['top1']:>7.2f}%")
print(f"  {'same ViT, random init':<34}{r['random']['top1']:>7.2f}%")
print(f"  {'raw pixels':<34}{r['pixels']['top1']:>7.2f}%")
print(f"exported teacher: {out}/teacher.safetensors")
PY

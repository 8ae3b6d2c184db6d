#!/usr/bin/env bash
# --norm: by default pretraining normalises each modality with the dataset's statistics (index.json's
# modality_stats, written by vfm shard), records the table in state.json and the export's metadata, and eval
# normalises as the checkpoint was trained; --norm=imagenet and given values; a bad --norm is refused.
source "$(dirname "$0")/common.sh"
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/dataset" --max_steps=2 > "$WORK/dataset.log"
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/imagenet" --max_steps=2 --norm=imagenet > "$WORK/imagenet.log"
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/values" --max_steps=2 --norm=0.5,0.25 > "$WORK/values.log"
grep "normalising fashion" "$WORK/dataset.log"
"$VFM" export --checkpoint="$WORK/dataset" --out="$WORK/dataset.safetensors" > /dev/null
"$VFM" export --checkpoint="$WORK/imagenet" --out="$WORK/imagenet.safetensors" > /dev/null
E=(--data="$WORK/data" --test_data="$WORK/data" --eval_size=16 --eval_resize=16)
"$VFM" eval knn "${E[@]}" --checkpoint="$WORK/dataset" 2> "$WORK/eval.err" > /dev/null
# A checkpoint trained with ImageNet's statistics is evaluated with them, whatever --data's statistics.
"$VFM" eval knn "${E[@]}" --checkpoint="$WORK/imagenet" 2> "$WORK/eval_imagenet.err" > /dev/null
grep -q "normalising fashion with mean 0.4850 0.4560 0.4060, std 0.2290 0.2240 0.2250" "$WORK/eval_imagenet.err"
/usr/bin/python3 - "$WORK" <<'PY'
import json, struct, sys
import numpy as np
w = sys.argv[1]
stats = json.load(open(f"{w}/data/index.json"))["modality_stats"]["fashion"]
f32 = lambda v: [float(np.float32(x)) for x in v]
def state(run):
    return json.load(open(f"{w}/{run}/ckpt-00000002/state.json"))["normalization"]
def metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(json.loads(f.read(n))["__metadata__"]["normalization"])
want = {"fashion": {"mean": f32(stats["mean"]), "std": f32(stats["std"])}}
assert state("dataset") == want, (state("dataset"), want)
assert metadata(f"{w}/dataset.safetensors") == want
imagenet = {"mean": f32([0.485, 0.456, 0.406]), "std": f32([0.229, 0.224, 0.225])}
assert state("imagenet") == {"fashion": imagenet} == metadata(f"{w}/imagenet.safetensors")
assert state("values") == {"fashion": {"mean": [0.5] * 3, "std": [0.25] * 3}}
flags = json.load(open(f"{w}/values/flags.json"))
assert flags["norm"] == "0.5,0.25", flags
# The weights differ: the normalisation reached the crops.
assert open(f"{w}/dataset/ckpt-00000002/student.safetensors", "rb").read() != \
       open(f"{w}/imagenet/ckpt-00000002/student.safetensors", "rb").read()
m, sd = stats["mean"][0], stats["std"][0]  # eval normalises as the checkpoint was trained
line = f"normalising fashion with mean {m:.4f} {m:.4f} {m:.4f}, std {sd:.4f} {sd:.4f} {sd:.4f}"
assert line in open(f"{w}/eval.err").read(), line
print("norm: state.json and export metadata carry", want)
PY
refused 2 "^vfm pretrain: --norm 'imagenets' is not dataset, imagenet" \
  "$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/bad" --max_steps=1 --norm=imagenets
refused 2 "^vfm pretrain: --norm 0.5,0: std 0 is not in" \
  "$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/bad" --max_steps=1 --norm=0.5,0
echo "norm: dataset statistics by default, recorded and exported; imagenet and values; bad values refused"

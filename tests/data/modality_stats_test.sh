#!/usr/bin/env bash
# Per-modality channel statistics (data/modality_stats.h) against numpy on real images: `vfm shard` writes
# them into index.json (folder of JPEG/PNG, RGB and gray; IDX), `vfm inspect` shows them, and `vfm stats`
# recomputes the same figures, bit for bit, for a dataset whose index.json lacks them (an older dataset).
# Usage: modality_stats_test.sh VFM PYTHON
set -euo pipefail
vfm=$1 python=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fm=/usr/share/datasets/fashion-mnist
skimage=/usr/lib/python3/dist-packages/skimage/data

mkdir -p "$tmp/in/fundus" "$tmp/in/oct"
cp $skimage/retina.jpg $skimage/astronaut.png $skimage/coffee.png "$tmp/in/fundus/"  # RGB JPEG and PNGs
cp $skimage/microaneurysms.png $skimage/camera.png "$tmp/in/oct/"                     # gray PNGs
"$vfm" shard --input="$tmp/in" --output="$tmp/eyes" --threads=2 > /dev/null 2>&1
"$vfm" shard --idx_images=$fm/t10k-images-idx3-ubyte.gz --idx_labels=$fm/t10k-labels-idx1-ubyte.gz \
  --output="$tmp/fm" --modality=fashion > /dev/null 2>&1

# numpy: each image's per-channel mean and mean square over its pixels in [0, 1], gray in all three
# channels, averaged over the modality's images with equal weights.
"$python" - "$tmp" "$fm" <<'PY'
import gzip, json, sys
import numpy as np
from PIL import Image
tmp, fm = sys.argv[1:]
def stats(images):
    m = np.array([[np.mean(im[..., c] / 255.0, dtype=np.float64) for c in range(3)] for im in images])
    q = np.array([[np.mean((im[..., c] / 255.0) ** 2, dtype=np.float64) for c in range(3)] for im in images])
    mean = m.mean(0)
    return mean, np.sqrt(q.mean(0) - mean ** 2)
def load(path):
    im = np.asarray(Image.open(path))
    return np.stack([im] * 3, -1) if im.ndim == 2 else im[..., :3]
skimage = "/usr/lib/python3/dist-packages/skimage/data"
want = {"fundus": stats([load(f"{skimage}/{n}") for n in ("retina.jpg", "astronaut.png", "coffee.png")]),
        "oct": stats([load(f"{skimage}/{n}") for n in ("microaneurysms.png", "camera.png")])}
raw = np.frombuffer(gzip.open(f"{fm}/t10k-images-idx3-ubyte.gz").read()[16:], np.uint8).reshape(-1, 28, 28)
want_fm = stats(np.stack([raw] * 3, -1))
for folder, expected in (("eyes", want), ("fm", {"fashion": want_fm})):
    got = json.load(open(f"{tmp}/{folder}/index.json"))["modality_stats"]
    assert set(got) == set(expected), (got.keys(), expected.keys())
    for name, (mean, std) in expected.items():
        # PNG and IDX pixels are the same in both decoders; retina.jpg is decoded by libjpeg-turbo in both.
        assert np.allclose(got[name]["mean"], mean, rtol=0, atol=1e-12), (name, got[name], mean)
        assert np.allclose(got[name]["std"], std, rtol=0, atol=1e-12), (name, got[name], std)
        print(f"  {folder}/{name}: mean {np.round(mean, 4)} std {np.round(std, 4)} (numpy agrees to 1e-12)")
PY

"$vfm" inspect "$tmp/eyes" > "$tmp/inspect.txt"
cat "$tmp/inspect.txt"
grep -qE "fundus +3 +0.0%  [0-9.]+ [0-9.]+ [0-9.]+ / [0-9.]+" "$tmp/inspect.txt"
grep -qE "oct +2 .* 0 1 0 0 1 0 0$" "$tmp/inspect.txt"  # shorter sides 102 (microaneurysms) and 512 (camera)

# An older dataset: index.json without the statistics. vfm inspect says so; vfm stats writes the same ones.
for folder in eyes fm; do
  cp "$tmp/$folder/index.json" "$tmp/$folder.with_stats.json"
  "$python" -c 'import json,sys; p=sys.argv[1]; j=json.load(open(p)); del j["modality_stats"]; json.dump(j, open(p, "w"))' \
    "$tmp/$folder/index.json"
done
"$vfm" inspect "$tmp/eyes" | grep -q "none (vfm stats adds them)"
for folder in eyes fm; do
  "$vfm" stats "$tmp/$folder" --threads=2 2> /dev/null
  cmp "$tmp/$folder/index.json" "$tmp/$folder.with_stats.json"
done
[ -z "$(ls "$tmp/eyes" | grep tmp)" ] || { echo "FAIL: vfm stats left a temporary file"; exit 1; }
if "$vfm" stats "$tmp/none" 2> /dev/null; then echo "FAIL: vfm stats of a missing folder succeeded"; exit 1; fi
echo "modality stats: shard == numpy, vfm stats == shard"

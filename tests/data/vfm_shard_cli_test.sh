#!/usr/bin/env bash
# `vfm shard` end to end through the binary: gzipped IDX (Fashion-MNIST's test set) into several shards,
# a folder tree with a truncated JPEG (rejected and listed, exit 0), bad flags (exit 2), h5py reading it.
# Usage: vfm_shard_cli_test.sh VFM PYTHON
set -euo pipefail
vfm=$1 python=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fm=/usr/share/datasets/fashion-mnist
skimage=/usr/lib/python3/dist-packages/skimage/data

"$vfm" shard --idx_images=$fm/t10k-images-idx3-ubyte.gz --idx_labels=$fm/t10k-labels-idx1-ubyte.gz \
  --output="$tmp/fm" --modality=fashion --shard_size_mb=2 > "$tmp/idx.txt"
cat "$tmp/idx.txt"
grep -q "10000 samples, 7.8 MB of images, 4 shards" "$tmp/idx.txt"
grep -q "fashion .* 10000 samples" "$tmp/idx.txt"

mkdir -p "$tmp/in/fundus" "$tmp/in/oct"
cp $skimage/retina.jpg $skimage/truncated.jpg "$tmp/in/fundus/"
cp $skimage/microaneurysms.png "$tmp/in/oct/"
"$vfm" shard --input="$tmp/in" --output="$tmp/eyes" > "$tmp/folder.txt"
cat "$tmp/folder.txt"
grep -q "2 samples" "$tmp/folder.txt"
grep -q "rejected 1 inputs" "$tmp/folder.txt"
grep -q "truncated.jpg: jpeg:" "$tmp/folder.txt"

if "$vfm" shard --output="$tmp/none" 2> /dev/null; then echo "missing input flag was accepted"; exit 1; fi
if "$vfm" shard --input="$tmp/in" --output="$tmp/eyes" 2> /dev/null; then echo "overwrote a dataset"; exit 1; fi

"$python" - "$tmp/fm" "$tmp/eyes" <<'PY'
import json, sys
import h5py
for folder in sys.argv[1:]:
    index = json.load(open(folder + "/index.json"))
    total = 0
    for entry in index["shards"]:
        with h5py.File(folder + "/" + entry["file"], "r") as f:
            assert f["label"].shape == (entry["samples"],)
            total += f["label"].shape[0]
    assert total == index["samples"], (folder, total)
print("h5py ok")
PY

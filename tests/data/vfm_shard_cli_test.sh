#!/usr/bin/env bash
# `vfm shard` end to end through the binary: gzipped IDX (Fashion-MNIST's test set) into several shards,
# a folder tree with a truncated JPEG (rejected and listed, exit 0), bad flags (exit 2), h5py reading it;
# hostile inputs (a FIFO, /dev/zero, a symlink loop: skipped and listed; random bytes as CSV: an error);
# a version-1 dataset refused by `vfm inspect`; `vfm pretrain` on a dataset whose every sample is damaged
# stopping with an error naming it (not an abort).
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
rc=0; "$vfm" shard --idx_images=$fm/t10k-images-idx3-ubyte.gz --output="$tmp/none" 2> /dev/null || rc=$?
[ $rc = 2 ] || { echo "--idx_images without --idx_labels: exit $rc, expected 2"; exit 1; }
if "$vfm" shard --input="$tmp/in" --output="$tmp/eyes" 2> /dev/null; then echo "overwrote a dataset"; exit 1; fi

# A FIFO, /dev/zero and a symlink loop in the input folder: skipped and listed, never read (no hang).
mkdir -p "$tmp/odd/fundus"
cp $skimage/retina.jpg "$tmp/odd/fundus/"
mkfifo "$tmp/odd/fundus/pipe.jpg"
ln -s /dev/zero "$tmp/odd/fundus/zero.png"
ln -s .. "$tmp/odd/fundus/up"
timeout 60 "$vfm" shard --input="$tmp/odd" --output="$tmp/odd-ds" > "$tmp/odd.txt"
cat "$tmp/odd.txt"
grep -q "1 samples" "$tmp/odd.txt"
grep -qF "skipped: $tmp/odd/fundus/pipe.jpg (a FIFO)" "$tmp/odd.txt"
grep -qF "skipped: $tmp/odd/fundus/zero.png (a character device)" "$tmp/odd.txt"
grep -qF "skipped: $tmp/odd/fundus/up (a folder already listed" "$tmp/odd.txt"

# Random bytes as the CSV: a clear error and a non-zero exit, never an empty dataset.
"$python" -c "import random, sys; random.seed(5); open(sys.argv[1], 'wb').write(bytes(random.getrandbits(8) for _ in range(4096)))" "$tmp/noise.csv"
if "$vfm" shard --csv="$tmp/noise.csv" --output="$tmp/noise" 2> "$tmp/noise.txt"; then echo "random CSV accepted"; exit 1; fi
cat "$tmp/noise.txt"
grep -qF "vfm shard: $tmp/noise.csv: " "$tmp/noise.txt"
[ ! -e "$tmp/noise/index.json" ]

# A version-1 dataset: refused in one line that says what to do.
cp -r "$tmp/eyes" "$tmp/v1"
sed -i 's/"format_version": 2/"format_version": 1/' "$tmp/v1/index.json"
if "$vfm" inspect "$tmp/v1" 2> "$tmp/v1.txt"; then echo "version-1 dataset accepted"; exit 1; fi
cat "$tmp/v1.txt"
[ "$(wc -l < "$tmp/v1.txt")" = 1 ]
grep -qF "$tmp/v1: a version-1 dataset" "$tmp/v1.txt"
grep -qF 're-run `vfm shard`' "$tmp/v1.txt"
"$vfm" inspect "$tmp/eyes" | grep -q "checksums match"

# Every sample's bytes damaged: `vfm pretrain` stops with an error naming the dataset (exit 1, no abort).
cp -r "$tmp/fm" "$tmp/fm-bad"
"$python" - "$tmp/fm-bad" <<'PY'
import glob, sys
import h5py
for path in glob.glob(sys.argv[1] + "/*.h5"):
    with h5py.File(path, "r+") as f:
        f["bytes"][::97] ^= 0x5A  # at least one byte of every 784-byte sample
PY
rc=0
OMP_NUM_THREADS=2 "$vfm" pretrain --data="$tmp/fm-bad" --run_dir="$tmp/run" --arch=vit_tiny --depth=1 --patch=4 \
  --global_size=16 --local_crops=0 --out_dim=64 --head_hidden=64 --head_bottleneck=32 --batch=16 --epochs=1 \
  --data_threads=2 > "$tmp/pretrain.txt" 2>&1 || rc=$?
tail -3 "$tmp/pretrain.txt"
[ $rc = 1 ] || { echo "vfm pretrain on damaged data: exit $rc, expected 1"; exit 1; }
grep -qF "vfm pretrain: $tmp/fm-bad: " "$tmp/pretrain.txt"
grep -q "could not be read or decoded" "$tmp/pretrain.txt"

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

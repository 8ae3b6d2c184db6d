#!/usr/bin/env bash
# Fuzzes vfm's parsers with libFuzzer (clang from Debian) for a fixed budget: the JPEG/PNG and TIFF decoders,
# index.json, shard files (through libhdf5 and the reader's checks), safetensors and checkpoint JSON. Builds build-fuzz/
# (CPU only, AddressSanitizer + UBSan + libFuzzer), makes seed inputs with that build's own `vfm` (a 4-sample
# shard of tiny JPEGs and PNGs, a 2-step checkpoint), runs each target, and prints per target the runs,
# corpus size and findings (crash-*/leak-*/timeout-* files in build-fuzz/fuzz-findings/TARGET/).
# Usage: tests/fuzz/run.sh [seconds per target, default 60] [target...]     Figures: bench/results/fuzzing.md
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
for p in clang libomp-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p"; }
done
all=(decode tiff dataset_index shard safetensors checkpoint)
targets=("${@:2}")
((${#targets[@]})) || targets=("${all[@]}")
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVFM_CUDA=OFF -DVFM_FUZZ=ON \
  -DVFM_SANITIZE=address,undefined,fuzzer-no-link > /dev/null
cmake --build build-fuzz -j"$(nproc)" --target vfm "${targets[@]/#/fuzz_}"

out=build-fuzz/fuzz-work
rm -rf "$out" && mkdir -p "$out"/images/fundus "$out"/images/oct
/usr/bin/python3 - "$out/images" <<'PY'
import sys
from PIL import Image
d = sys.argv[1]
for i, (mode, size) in enumerate([("RGB", (24, 16)), ("L", (16, 16))]):
    im = Image.new(mode, size)
    im.putdata([(x * 7 + i) % 256 if mode == "L" else ((x * 7) % 256, x % 256, 255 - x % 256)
                for x in range(size[0] * size[1])])
    im.save(f"{d}/fundus/f{i}.jpg", quality=90)
    im.save(f"{d}/oct/o{i}.png")
PY
ASAN_OPTIONS=detect_leaks=0 build-fuzz/vfm shard --input="$out/images" --output="$out/ds" > /dev/null
/usr/bin/python3 tests/trainer/make_tiny_dataset.py 32 "$out"
ASAN_OPTIONS=detect_leaks=0 build-fuzz/vfm shard --idx_images="$out/images.idx" --idx_labels="$out/labels.idx" \
  --output="$out/tiny" --modality=fashion > /dev/null
ASAN_OPTIONS=detect_leaks=0 OMP_NUM_THREADS=1 build-fuzz/vfm pretrain --data="$out/tiny" --run_dir="$out/run" \
  --arch=vit_tiny --depth=1 --patch=4 --global_size=16 --local_crops=0 --out_dim=16 --head_hidden=16 \
  --head_bottleneck=8 --batch=16 --max_steps=2 --data_threads=1 > /dev/null
ckpt=$(ls -d "$out"/run/ckpt-* | tail -1)
rm -rf build-fuzz/fuzz-findings  # the counts below are of this run
for t in "${all[@]}"; do mkdir -p "$out/seeds/$t" "$out/corpus/$t" "build-fuzz/fuzz-findings/$t"; done
/usr/bin/python3 - "$out/seeds/tiff" <<'PY'
import sys
import numpy as np
from PIL import Image
d = sys.argv[1]
ramp = np.arange(16 * 24, dtype=np.uint16).reshape(16, 24)
Image.fromarray((ramp % 256).astype(np.uint8)).save(f"{d}/gray8.tif")
Image.fromarray(ramp * 170).save(f"{d}/gray16_lzw.tif", compression="tiff_lzw")
Image.fromarray(np.stack([ramp % 256, ramp // 2 % 256, 255 - ramp % 256], -1).astype(np.uint8)).save(
    f"{d}/rgb_deflate.tif", compression="tiff_adobe_deflate")
Image.fromarray((ramp % 256).astype(np.uint8)).convert("P").save(f"{d}/palette.tif")
PY
cp "$out"/images/*/* /usr/lib/python3/dist-packages/skimage/data/truncated.jpg "$out/seeds/decode/"
cp "$out/ds/index.json" "$out/seeds/dataset_index/a.json"
cp "$out/tiny/index.json" "$out/seeds/dataset_index/b.json"
/usr/bin/python3 - "$out/ds" "$out/seeds/shard/a" <<'PY'
import json, struct, sys
entry = json.load(open(sys.argv[1] + "/index.json"))["shards"][0]
with open(sys.argv[2], "wb") as f:  # the shard target's input: the data range, then the file
    f.write(struct.pack("<QQ", entry["data_offset"], entry["data_bytes"]))
    f.write(open(sys.argv[1] + "/" + entry["file"], "rb").read())
PY
cp "$ckpt/student.safetensors" "$ckpt/loss.safetensors" "$out/seeds/safetensors/"
{ printf '\0'; cat "$ckpt/state.json"; } > "$out/seeds/checkpoint/state"
{ printf '\1'; cat "$ckpt/MANIFEST.json"; } > "$out/seeds/checkpoint/manifest"

printf "%-14s %10s %8s %9s\n" target runs corpus findings
for t in "${targets[@]}"; do
  log="$out/$t.log"
  # allocator_may_return_null: a huge malloc that libhdf5 attempts on corrupt metadata returns NULL (as it does
  # without ASan), which libhdf5 reports as an error, instead of ASan aborting.
  (cd "build-fuzz/fuzz-findings/$t" && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 "../../tests/fuzz/fuzz_$t" \
     -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=1048576 -print_final_stats=1 \
     "../../../$out/corpus/$t" "../../../$out/seeds/$t") > "$log" 2>&1 || true
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  printf "%-14s %10s %8s %9s\n" "$t" "${runs:-?}" "$(ls "$out/corpus/$t" | wc -l)" \
    "$(ls "build-fuzz/fuzz-findings/$t" | grep -cE '^(crash|leak|timeout|oom)-' || true)"
done

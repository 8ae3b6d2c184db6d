#!/usr/bin/env bash
# vfm eval needs labels: unlabelled training or test data is refused naming the dataset (a double free
# in the linear probe and a meaningless 100% / 0% kNN before), and labels need not be dense (a label of
# 2^31 - 1 is one class, not 2^31 outputs). Long evaluations say what they evaluate and show progress.
source "$(dirname "$0")/common.sh"
# 20 tiny grey PNGs, dark and bright in turn; unlabelled, and labelled 0 (dark) / 2147483647 (bright).
/usr/bin/python3 - "$WORK/png" <<'PY'
import os, struct, sys, zlib
out = sys.argv[1]
os.makedirs(out)
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
with open(f"{out}/unlabelled.csv", "w") as unlabelled, open(f"{out}/sparse.csv", "w") as sparse:
    for i in range(20):
        value = 20 + i if i % 2 == 0 else 230 - i
        with open(f"{out}/{i}.png", "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)) +
                    chunk(b"IDAT", zlib.compress((b"\x00" + bytes([value]) * 8) * 8)) + chunk(b"IEND", b""))
        unlabelled.write(f"{i}.png,toy\n")
        sparse.write(f"{i}.png,toy,{0 if i % 2 == 0 else 2147483647}\n")
PY
"$VFM" shard --csv="$WORK/png/unlabelled.csv" --output="$WORK/unlabelled" > /dev/null
"$VFM" shard --csv="$WORK/png/sparse.csv" --output="$WORK/sparse" > /dev/null
PIX=(--encoder=pixels --eval_size=8 --eval_resize=8)
refused 2 "--data $WORK/unlabelled: 20 of 20 samples have no label \(the first: shard-00000.h5 sample 0" \
  "$VFM" eval linear "${PIX[@]}" --data="$WORK/unlabelled" --test_data="$WORK/sparse"
refused 2 "--test_data $WORK/unlabelled: 20 of 20 samples have no label" \
  "$VFM" eval knn "${PIX[@]}" --data="$WORK/sparse" --test_data="$WORK/unlabelled"
refused 2 "--data $WORK/unlabelled: 20 of 20 samples have no label" \
  "$VFM" eval knn "${PIX[@]}" --data="$WORK/unlabelled" --test_data="$WORK/unlabelled"
"$VFM" eval linear "${PIX[@]}" --data="$WORK/sparse" --test_data="$WORK/sparse" --probe_epochs=20 \
  --json_out="$WORK/linear.json" 2> "$WORK/linear.err"
"$VFM" eval knn "${PIX[@]}" --data="$WORK/sparse" --test_data="$WORK/sparse" --knn_k=5 --json_out="$WORK/knn.json"
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
lin, knn = (json.load(open(f"{sys.argv[1]}/{m}.json")) for m in ("linear", "knn"))
assert lin["top1"] == 100 and knn["top1"] == 100, (lin, knn)  # dark vs bright: separable
print("sparse labels 0 / 2147483647: linear", lin["top1"], "knn", knn["top1"])
PY
# Labels that cannot mean the same classes: no test label among the training labels; two datasets that
# name their classes differently (folder labels: dark/bright against cat/dog).
awk -F, '{print $1 ",toy,5"}' "$WORK/png/sparse.csv" > "$WORK/png/other.csv"
"$VFM" shard --csv="$WORK/png/other.csv" --output="$WORK/other" > /dev/null
refused 2 "no --test_data sample has a label that a --data sample has" \
  "$VFM" eval knn "${PIX[@]}" --data="$WORK/sparse" --test_data="$WORK/other" --knn_k=5
for names in dark,bright cat,dog; do
  for i in 0 1 2 3 4 5; do
    class=$(echo "$names" | cut -d, -f$((i % 2 + 1)))
    mkdir -p "$WORK/$names/toy/$class" && cp "$WORK/png/$i.png" "$WORK/$names/toy/$class/"
  done
  "$VFM" shard --input="$WORK/$names" --folder_labels --output="$WORK/named_$names" > /dev/null
done
refused 2 "--data and --test_data name their classes differently \(bright,dark against cat,dog\)" \
  "$VFM" eval knn "${PIX[@]}" --data="$WORK/named_dark,bright" --test_data="$WORK/named_cat,dog" --knn_k=5
# What the evaluation runs at, and its progress (stderr).
grep -q "pixels of 20 training and 20 test samples at 8x8 px" "$WORK/linear.err" || { cat "$WORK/linear.err"; echo "FAIL: no plan line"; exit 1; }
grep -q "features of --data 20/20" "$WORK/linear.err" || { echo "FAIL: no feature progress"; exit 1; }
grep -q "linear probe epochs 80/80" "$WORK/linear.err" || { echo "FAIL: no probe progress"; exit 1; }
# A checkpoint trained at 16 px evaluated at 24 px: warned, with the flags that evaluate at 16.
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/run" --max_steps=1 > "$WORK/pretrain.log"
"$VFM" eval knn --data="$WORK/data" --test_data="$WORK/data" --checkpoint="$WORK/run" --eval_size=24 --eval_resize=28 \
  2> "$WORK/knn24.err" > /dev/null
grep -q "warning: --eval_size 24 differs from the training crop size 16 of .*(--eval_size=16 --eval_resize=18 evaluate at it)" \
  "$WORK/knn24.err" || { cat "$WORK/knn24.err"; echo "FAIL: no warning about the eval size"; exit 1; }
echo "eval labels: ok"

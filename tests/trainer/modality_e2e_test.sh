#!/usr/bin/env bash
# The VisionFM data workflow end to end on real images of three modalities (tests/data/make_modality_fixture.py:
# fundus JPEG, 16-bit gray FFA PNG and TIFF, Fashion-MNIST as a stand-in): vfm shard of class folders -> vfm stats
# (the same statistics) -> launch/per_modality.py (one tiny pretraining per modality, kNN on its modality,
# export, summary table) -> checks: each run saw its modality only, each export's metadata holds its
# modality's statistics from index.json, vfm eval knn --modalities gives one row per modality; a separate
# mpirun per modality (--launcher) trains the same encoder as the plain run; a SIGTERM stops it at a checkpoint.
# Expects VFM (the binary), SRC (the source tree) and WORK (a scratch folder) to be set.
set -euo pipefail
rm -rf "$WORK" && mkdir -p "$WORK"
export OMP_NUM_THREADS=2
/usr/bin/python3 "$SRC/tests/data/make_modality_fixture.py" "$WORK/images" 12
for split in train test; do
  "$VFM" shard --input="$WORK/images/$split" --folder_labels --output="$WORK/$split" --threads=2 \
    > "$WORK/shard-$split.log"
done
"$VFM" inspect "$WORK/train" | tee "$WORK/inspect.txt"
for m in fundus ffa external; do grep -qE "^ *$m +24 " "$WORK/inspect.txt"; done
cp "$WORK/train/index.json" "$WORK/index.shard.json"
"$VFM" stats "$WORK/train" > /dev/null
cmp "$WORK/train/index.json" "$WORK/index.shard.json"  # vfm stats recomputes what vfm shard wrote

# One encoder per modality. 24 images / batch 8 = 3 steps per epoch, 2 epochs.
TINY=(--arch=vit_tiny --depth=1 --patch=4 --global_size=16 --local_crops=2 --local_size=8 --out_dim=64
      --head_hidden=64 --head_bottleneck=32 --batch=8 --epochs=2 --warmup_epochs=0.5 --freeze_last_layer=0.25
      --warmup_teacher_temp_epochs=1 --data_threads=2 --log_every=3 --checkpoint_every=100)
[ "$(/usr/bin/python3 "$SRC/launch/per_modality.py" "$WORK/train" "$WORK/runs" --count)" = 3 ]
/usr/bin/python3 "$SRC/launch/per_modality.py" "$WORK/train" "$WORK/runs" --vfm="$VFM" \
  --eval_data="$WORK/train" --eval_test_data="$WORK/test" -- "${TINY[@]}"

/usr/bin/python3 - "$WORK" <<'PY'
import csv, json, struct, sys
work = sys.argv[1]
stats = json.load(open(f"{work}/train/index.json"))["modality_stats"]
rows = list(csv.DictReader(open(f"{work}/runs/summary.csv")))
assert [r["modality"] for r in rows] == ["external", "ffa", "fundus"], rows
for r in rows:
    m = r["modality"]
    assert r["images"] == "24" and r["steps"] == "6" and r["images_seen"] == "48", r
    assert 0 <= float(r["knn_top1"]) <= 100 and float(r["final_loss"]) > 0, r
    assert r["export"] == f"{work}/runs/{m}/encoder.safetensors", r
    last = [json.loads(l) for l in open(f"{work}/runs/{m}/metrics.jsonl")][-1]
    assert last["samples_per_modality"] == {m: 48}, last  # the run drew its modality only
    knn = json.load(open(f"{work}/runs/{m}/knn.json"))["per_modality"]
    assert [(k["modality"], k["train_samples"], k["test_samples"]) for k in knn] == [(m, 24, 12)], knn
    with open(r["export"], "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    norm = json.loads(header["__metadata__"]["normalization"])
    assert list(norm) == [m], norm  # the encoder's own modality, with its dataset statistics (float32)
    for key in ("mean", "std"):
        assert all(abs(a - b) < 1e-6 for a, b in zip(norm[m][key], stats[m][key])), (m, key, norm[m], stats[m])
    print(f"  {m}: steps {r['steps']}, loss {r['final_loss']}, kNN {r['knn_top1']}%, export normalisation {norm[m]}")
PY
cat "$WORK/runs/summary.md"

# Per-modality evaluation of one encoder across every modality: one row each, on that modality's samples.
"$VFM" eval knn --checkpoint="$WORK/runs/fundus" --data="$WORK/train" --test_data="$WORK/test" --modalities=all \
  --eval_size=16 --eval_resize=18 --json_out="$WORK/knn-all.json" > "$WORK/knn-all.txt" 2> "$WORK/knn-all.err"
cat "$WORK/knn-all.txt"
for m in fundus ffa external; do grep -qE "^$m +24 +12 +[0-9.]+%" "$WORK/knn-all.txt"; done
/usr/bin/python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["per_modality"]
assert [x["modality"] for x in r] == ["external", "ffa", "fundus"], r' "$WORK/knn-all.json"
status=0
"$VFM" eval knn --checkpoint="$WORK/runs/fundus" --data="$WORK/train" --test_data="$WORK/test" --modalities=oct \
  --eval_size=16 --eval_resize=18 > /dev/null 2> "$WORK/bad.err" || status=$?
if [ $status != 2 ] || ! grep -q "^vfm eval: --modalities: --data has no samples of 'oct'" "$WORK/bad.err"; then
  echo "FAIL: --modalities=oct -> status $status (expected 2)"; cat "$WORK/bad.err"; exit 1
fi

# A separate mpirun per modality (2 CPU ranks): the same ffa encoder as the plain run.
OMP_NUM_THREADS=1 OMPI_MCA_btl_vader_single_copy_mechanism=none \
  /usr/bin/python3 "$SRC/launch/per_modality.py" "$WORK/train" "$WORK/mpi" --vfm="$VFM" --modalities=ffa \
  --launcher="$SRC/launch/mpirun.sh -n 2 --cpu --" -- "${TINY[@]}" > /dev/null
/usr/bin/python3 "$SRC/tests/trainer/compare_runs.py" "$WORK/runs/ffa" "$WORK/mpi/ffa" 6

# SIGTERM to the launcher's process group mid-run (a time limit or scancel outside a job step; Ctrl-C's SIGINT
# likewise in a terminal): vfm pretrain writes its checkpoint and the launcher exits 3 after it (it died of
# the signal before, leaving vfm orphaned).
setsid /usr/bin/python3 "$SRC/launch/per_modality.py" "$WORK/train" "$WORK/signal" --vfm="$VFM" --modalities=ffa \
  -- "${TINY[@]}" --epochs=1000 > "$WORK/signal.out" 2>&1 &
launcher=$!
for _ in $(seq 300); do grep -q '"step"' "$WORK/signal/ffa/metrics.jsonl" 2> /dev/null && break; sleep 0.1; done
kill -TERM -- -"$launcher"
status=0
wait "$launcher" || status=$?
if [ $status != 3 ] || ! grep -q "on SIGTERM: checkpoint written" "$WORK/signal/ffa/per_modality.log"; then
  kill -KILL -- -"$launcher" 2> /dev/null
  echo "FAIL: SIGTERM to per_modality.py's process group -> status $status (expected 3 after a checkpoint)"
  cat "$WORK/signal.out" "$WORK/signal/ffa/per_modality.log"; exit 1
fi
echo "modality_e2e: OK"

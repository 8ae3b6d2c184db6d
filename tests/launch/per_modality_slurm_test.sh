#!/usr/bin/env bash
# launch/per_modality.sbatch under a real SLURM (a throwaway one-node one, local_slurm.sh), submitted as
# launch/README.md says: an array over the three modalities of tests/data/make_modality_fixture.py, one CPU
# rank each. Mid-run, array task 1 gets SIGUSR1 (what --signal sends before a time limit: the script
# requeues it itself) and task 2 is requeued by `scontrol requeue` (preemption: SIGTERM); both must resume
# from their checkpoint and finish. Checks: every task ends COMPLETED with status 0, task I trained the I-th
# modality only, in OUT/<modality>, each export holds its modality's statistics, the summary covers all three.
# Needs root and Debian's slurm-wlm and munge (setup.sh does not install them): exits 77 (skipped) otherwise.
# Expects VFM (the binary), SRC (the source tree) and WORK (a scratch folder) to be set.
set -euo pipefail
rm -rf "$WORK"
source "$(dirname "$0")/common.sh"

/usr/bin/python3 "$SRC/tests/data/make_modality_fixture.py" "$WORK/images" 12
for split in train test; do
  "$VFM" shard --input="$WORK/images/$split" --folder_labels --output="$WORK/$split" --threads=2 \
    > "$WORK/shard-$split.log"
done

# 24 images of each modality / batch 8 = 3 steps per epoch, 100 epochs: 300 steps, about 10 s a run.
TINY=(--arch=vit_tiny --depth=1 --patch=4 --global_size=16 --local_crops=2 --local_size=8 --out_dim=64
      --head_hidden=64 --head_bottleneck=32 --batch=8 --epochs=100 --warmup_epochs=0.5 --freeze_last_layer=0.25
      --warmup_teacher_temp_epochs=1 --data_threads=1 --log_every=3 --checkpoint_every=100)
# This machine's resources instead of the script's 8 GPUs per node (what editing its #SBATCH lines does).
HERE=(--ntasks-per-node=1 --gpus-per-node=0 --cpus-per-task=1 --time=10 --output="$WORK/%x-%A_%a.out")
cd "$SRC"
job=$(sbatch --parsable "${HERE[@]}" --array=0-$(( $(launch/per_modality.py "$WORK/train" "$WORK/runs" --count) - 1 )) \
  launch/per_modality.sbatch "$WORK/train" "$WORK/runs" --eval_data="$WORK/train" --eval_test_data="$WORK/test" \
  -- "${TINY[@]}")
echo "submitted array job $job"

until_step "$WORK/runs/ffa" "$job"
scancel --signal=USR1 "${job}_1" || { echo "FAIL: scancel --signal=USR1 ${job}_1"; exit 1; }
until_step "$WORK/runs/fundus" "$job"
scontrol requeue "${job}_2" || { echo "FAIL: scontrol requeue ${job}_2 (not running?)"; exit 1; }

all_completed "$job" 3
launch/per_modality.py "$WORK/train" "$WORK/runs" --summary

/usr/bin/python3 - "$WORK" "$job" <<'PY'
import csv, json, os, re, struct, sys
work, job = sys.argv[1], sys.argv[2]
modalities = ["external", "ffa", "fundus"]
assert sorted(os.listdir(f"{work}/runs")) == sorted(modalities + ["summary.csv", "summary.md"])
for i, m in enumerate(modalities):  # array task i ran the i-th modality, and only it
    out = open(f"{work}/vfm-modality-{job}_{i}.out").read()
    trained = set(re.findall(r"vfm pretrain .*--modalities=(\w+)", out))
    assert trained == {m}, (i, trained, out)
    log = open(f"{work}/runs/{m}/per_modality.log").read()
    stops = re.findall(r"stopping at step \d+ on (SIG\w+): checkpoint written", log)
    assert stops == {"external": [], "ffa": ["SIGUSR1"], "fundus": ["SIGTERM"]}[m], (m, stops)
    assert log.count("resuming from") == len(stops), log
    if m == "ffa":
        assert "per_modality.sbatch: modality 1 stopped at a checkpoint; requeueing" in out, out
stats = json.load(open(f"{work}/train/index.json"))["modality_stats"]
rows = list(csv.DictReader(open(f"{work}/runs/summary.csv")))
assert [r["modality"] for r in rows] == modalities, rows
for r in rows:
    m = r["modality"]
    assert r["images"] == "24" and r["steps"] == "300" and r["images_seen"] == "2400", r
    assert 0 <= float(r["knn_top1"]) <= 100 and float(r["final_loss"]) > 0, r
    assert r["export"] == f"{work}/runs/{m}/encoder.safetensors" and os.path.exists(f"{work}/runs/{m}/FINISHED"), r
    last = [json.loads(l) for l in open(f"{work}/runs/{m}/metrics.jsonl")][-1]
    assert last["samples_per_modality"] == {m: 2400}, last
    with open(r["export"], "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    norm = json.loads(header["__metadata__"]["normalization"])
    assert list(norm) == [m], norm
    for key in ("mean", "std"):
        assert all(abs(a - b) < 1e-6 for a, b in zip(norm[m][key], stats[m][key])), (m, key, norm[m], stats[m])
PY
cat "$WORK/runs/summary.md"
echo "per_modality_slurm: OK"

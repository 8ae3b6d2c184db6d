#!/usr/bin/env bash
# launch/sweep.sbatch under a real SLURM (a throwaway one-node one, local_slurm.sh), submitted as its
# header says: a 2-point sweep spec (seed 0, 1) of the trainer tests' tiny recipe, one array task per point.
# Mid-run, point 0 gets SIGUSR1 (what --signal sends before a time limit: the script requeues it itself) and
# point 1 is requeued by `scontrol requeue` (preemption: SIGTERM); both must resume from their checkpoint
# and finish. Then `vfm sweep SPEC` only writes sweep.csv. Exits 77 (skipped) without root or SLURM.
# Expects VFM (the binary), SRC (the source tree) and WORK (a scratch folder) to be set.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$SRC/tests/trainer/common.sh"  # the tiny dataset and recipe (it empties WORK first)

# 256 samples / batch 16 = 16 steps per epoch, 20 epochs: 320 steps, about 15 s a point.
/usr/bin/python3 - "$WORK" "${TINY[@]}" --epochs=20 <<'PY'
import json, sys
json.dump({"out": "sweep", "flags": sys.argv[2:], "axes": {"seed": [0, 1]}}, open(f"{sys.argv[1]}/spec.json", "w"))
PY
# This machine's resources instead of the script's GPU.
HERE=(--gpus=0 --cpus-per-task=1 --time=10 --output="$WORK/%x-%A_%a.out")
cd "$SRC"
job=$(sbatch --parsable "${HERE[@]}" --array=0-$(( $("$VFM" sweep "$WORK/spec.json" --point_count) - 1 )) \
  launch/sweep.sbatch "$WORK/spec.json")
echo "submitted array job $job"

until_step "$WORK/sweep/seed=0" "$job"
scancel --signal=USR1 "${job}_0" || { echo "FAIL: scancel --signal=USR1 ${job}_0"; exit 1; }
until_step "$WORK/sweep/seed=1" "$job"
scontrol requeue "${job}_1" || { echo "FAIL: scontrol requeue ${job}_1 (not running?)"; exit 1; }

all_completed "$job" 2
"$VFM" sweep "$WORK/spec.json" > "$WORK/sweep.out"
[ "$(grep -c "finished, skipped" "$WORK/sweep.out")" = 2 ] || { echo "FAIL: finished points rerun"; cat "$WORK/sweep.out"; exit 1; }
/usr/bin/python3 - "$WORK" "$job" <<'PY'
import csv, re, sys
work, job = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(f"{work}/sweep/sweep.csv")))
assert [(r["seed"], r["finished"], r["step"], r["images_seen"]) for r in rows] == \
    [("0", "True", "320", "5120"), ("1", "True", "320", "5120")], rows
for seed, signal in ((0, "SIGUSR1"), (1, "SIGTERM")):
    log = open(f"{work}/sweep/seed={seed}/sweep.log").read()
    assert re.findall(r"stopping at step \d+ on (SIG\w+): checkpoint written", log) == [signal], log
    assert log.count("resuming from") == 1, log
out = open(f"{work}/vfm-sweep-{job}_0.out").read()
assert "sweep.sbatch: point 0 stopped at a checkpoint; requeueing" in out, out
print("sweep:", rows)
PY
echo "sweep_slurm: OK"

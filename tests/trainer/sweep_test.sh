#!/usr/bin/env bash
# vfm sweep: a 2-point spec (seed 0, 1) of the tiny recipe; point seed=1 is half done beforehand (4 of its
# 8 steps, no FINISHED). The sweep runs seed=0, resumes seed=1 from step 4, writes sweep.csv; a second
# sweep skips both. --point_count, --point, a signal to the sweep's process group, two data folders of one
# name, a point's metrics broken after it finished, and bad specs.
source "$(dirname "$0")/common.sh"
/usr/bin/python3 - "$WORK" "${TINY[@]}" <<'PY'
import json, sys
w, flags = sys.argv[1], sys.argv[2:]
json.dump({"out": "sweep", "flags": flags, "axes": {"max_steps": [8], "seed": [0, 1]}}, open(f"{w}/spec.json", "w"))
json.dump({"out": "sweep", "flags": flags, "axes": {"seed": []}}, open(f"{w}/bad_spec.json", "w"))
PY
[ "$("$VFM" sweep "$WORK/spec.json" --point_count)" = 2 ] || { echo "FAIL: --point_count is not 2"; exit 1; }
"$VFM" pretrain "${TINY[@]}" --max_steps=4 --seed=1 --run_dir="$WORK/sweep/max_steps=8,seed=1" > "$WORK/half.log"
"$VFM" sweep "$WORK/spec.json" > "$WORK/sweep1.log"
grep -q "resuming from .*ckpt-00000004" "$WORK/sweep/max_steps=8,seed=1/sweep.log" ||
  { echo "FAIL: the half-done point did not resume"; exit 1; }
"$VFM" sweep "$WORK/spec.json" > "$WORK/sweep2.log"
[ "$(grep -c "finished, skipped" "$WORK/sweep2.log")" = 2 ] || { echo "FAIL: finished points rerun"; cat "$WORK/sweep2.log"; exit 1; }
/usr/bin/python3 - "$WORK" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/sweep/sweep.csv")))
assert [(r["max_steps"], r["seed"], r["finished"], r["step"]) for r in rows] == \
    [("8", "0", "True", "8"), ("8", "1", "True", "8")], rows
assert rows[0]["images_seen"] == "128" and rows[0]["final_knn_top1"] == "", rows[0]  # no evals in this recipe
print("sweep:", rows)
PY
rm "$WORK/sweep/max_steps=8,seed=0/FINISHED"
"$VFM" sweep "$WORK/spec.json" --point=0 > "$WORK/point0.log"
[ -e "$WORK/sweep/max_steps=8,seed=0/FINISHED" ] || { echo "FAIL: --point=0 did not finish point 0"; exit 1; }
# SIGUSR1 to the sweep's whole process group (as SLURM signals a job step, or Ctrl-C a terminal's foreground
# group): vfm pretrain stops at a checkpoint and the sweep exits 3 (its Python does not die of the signal).
/usr/bin/python3 - "$WORK" "${TINY[@]}" <<'PY'
import json, sys
json.dump({"out": "signal", "flags": sys.argv[2:], "axes": {"epochs": [100]}}, open(f"{sys.argv[1]}/signal.json", "w"))
PY
setsid "$VFM" sweep "$WORK/signal.json" > "$WORK/signal.out" 2>&1 &
sweep_pid=$!
for _ in $(seq 300); do grep -q '"step"' "$WORK/signal/epochs=100/metrics.jsonl" 2> /dev/null && break; sleep 0.1; done
kill -USR1 -- -"$sweep_pid"
status=0
wait "$sweep_pid" || status=$?
if [ $status != 3 ] || ! grep -q "on SIGUSR1: checkpoint written" "$WORK/signal/epochs=100/sweep.log"; then
  kill -KILL -- -"$sweep_pid" 2> /dev/null  # an orphaned vfm pretrain would write into the next run's WORK
  echo "FAIL: SIGUSR1 to the sweep's process group -> status $status (expected 3 after a checkpoint)"; cat "$WORK/signal.out"; exit 1
fi
# Two data subsets whose folders share a name (d1/data, d2/data) are two points in two run folders.
mkdir -p "$WORK/d1" "$WORK/d2" && ln -s "$WORK/data" "$WORK/d1/data" && ln -s "$WORK/data" "$WORK/d2/data"
/usr/bin/python3 - "$WORK" "${TINY[@]}" <<'PY'
import json, sys
w, flags = sys.argv[1], sys.argv[2:]
json.dump({"out": "twins", "flags": flags, "axes": {"max_steps": [2], "data": [f"{w}/d1/data", f"{w}/d2/data/"]}},
          open(f"{w}/twins.json", "w"))
bad = {"unknown_key": {"out": "s", "flags": flags, "axes": {"seed": [0]}, "flagz": []},
       "int_flag": {"out": "s", "flags": flags + [5], "axes": {"seed": [0]}},
       "repeated": {"out": "s", "flags": flags, "axes": {"seed": [0, 0]}},
       "list_value": {"out": "s", "flags": flags, "axes": {"seed": [[0]]}},
       "out_file": {"out": "spec.json", "flags": flags, "axes": {"seed": [0]}}}
for name, spec in bad.items():
    json.dump(spec, open(f"{w}/{name}.json", "w"))
json.dump([1, 2], open(f"{w}/a_list.json", "w"))
open(f"{w}/binary.json", "wb").write(b"\xff\xfe{")
PY
"$VFM" sweep "$WORK/twins.json" > "$WORK/twins.log"
/usr/bin/python3 - "$WORK" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/twins/sweep.csv")))
assert [r["run_dir"].rsplit("/", 1)[1] for r in rows] == ["max_steps=2,data=d1_data", "max_steps=2,data=d2_data"], rows
assert [r["step"] for r in rows] == ["2", "2"], rows
PY
# A point's metrics.jsonl broken after it finished: the sweep says which file, and keeps the old sweep.csv.
cp "$WORK/sweep/sweep.csv" "$WORK/sweep.csv.before"
echo "not json" >> "$WORK/sweep/max_steps=8,seed=0/metrics.jsonl"
refused 1 "^vfm sweep: .*max_steps=8,seed=0/metrics.jsonl:[0-9]+: not JSON .*sweep.csv not rewritten" \
  "$VFM" sweep "$WORK/spec.json"
cmp -s "$WORK/sweep/sweep.csv" "$WORK/sweep.csv.before" || { echo "FAIL: sweep.csv changed"; exit 1; }
refused 2 "unknown key 'flagz'" "$VFM" sweep "$WORK/unknown_key.json"
refused 2 "strings" "$VFM" sweep "$WORK/int_flag.json"
refused 2 "axis 'seed' repeats a value" "$VFM" sweep "$WORK/repeated.json"
refused 2 "axis 'seed': values must be strings or numbers" "$VFM" sweep "$WORK/list_value.json"
refused 2 "is not a folder" "$VFM" sweep "$WORK/out_file.json"
refused 2 "a_list.json: not a JSON object" "$VFM" sweep "$WORK/a_list.json"
refused 1 "binary.json: .*utf-8" "$VFM" sweep "$WORK/binary.json"
refused 2 "point must be in \[0, 1\]" "$VFM" sweep "$WORK/spec.json" --point=-2
refused 2 "point must be in \[0, 1\]" "$VFM" sweep "$WORK/spec.json" --point=2
refused 2 "axes" "$VFM" sweep "$WORK/bad_spec.json"
refused 2 "usage: vfm sweep" "$VFM" sweep
echo "sweep: ok"

#!/usr/bin/python3
"""vfm sweep: the points of a sweep spec, each a `vfm pretrain` run folder, in sequence; then sweep.csv.

Usage (run by `vfm sweep`, trainer/cli/sweep.cc):
  sweep.py VFM SPEC            run every point not finished yet, then write OUT/sweep.csv
  sweep.py VFM SPEC --point I  run point I only (one SLURM array task: launch/sweep.sbatch)
  sweep.py VFM SPEC --count    print the number of points

SPEC is JSON: {"out": "sweeps/s1", "flags": ["--flagfile=...", ...],
               "axes": {"arch": ["vit_tiny", "vit_small"], "depth": [4, 12], "data": ["/d/10k", "/d/60k"],
                        "max_steps": [1000, 4000], "seed": [0, 1]}}
Every axis is a `vfm pretrain` flag (a data subset is a --data folder of its own; the budget is whichever
flag bounds the run); the points are the product of the axes, in the order given. A relative "out" is
relative to the spec's folder. Point I runs in OUT/<axis=value,...>/ with flags + its values + --run_dir.
A point is finished when its folder has FINISHED (written after vfm pretrain exits 0); a half-done one
resumes, as vfm pretrain resumes from its newest checkpoint. Status 3 (stopped by a signal at a checkpoint)
stops the sweep with status 3. SIGTERM, SIGINT or SIGUSR1 during a point stop the sweep once vfm pretrain
has stopped (it gets them too: SLURM signals every process of a job step, Ctrl-C the foreground group).
"""
import csv
import itertools
import json
import os
import sys

from report import load_run
from stop_signals import run_noting_stops


def fail(message, status=1):
    print(f"vfm sweep: {message}", file=sys.stderr)
    sys.exit(status)


def load_spec(path):
    try:
        spec = json.load(open(path))
    except (OSError, json.JSONDecodeError) as e:
        fail(f"{path}: {e}")
    axes = spec.get("axes")
    if not isinstance(axes, dict) or not axes or not all(isinstance(v, list) and v for v in axes.values()):
        fail(f"{path}: \"axes\" must map flag names to non-empty lists of values", 2)
    if not isinstance(spec.get("out"), str) or not isinstance(spec.get("flags", []), list):
        fail(f"{path}: needs \"out\" (a folder) and \"flags\" (a list of vfm pretrain flags)", 2)
    out = os.path.join(os.path.dirname(os.path.abspath(path)), spec["out"])
    points = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
    return out, spec.get("flags", []), points


def point_name(point):
    return ",".join(f"{axis}={os.path.basename(str(value).rstrip('/'))}" for axis, value in point.items())


def run_point(vfm, out, flags, point):
    folder = os.path.join(out, point_name(point))
    if os.path.exists(os.path.join(folder, "FINISHED")):
        print(f"vfm sweep: {point_name(point)}: finished, skipped")
        return
    os.makedirs(folder, exist_ok=True)
    command = [vfm, "pretrain", *flags, *(f"--{axis}={value}" for axis, value in point.items()), f"--run_dir={folder}"]
    print(f"vfm sweep: {point_name(point)}: {' '.join(command)}", flush=True)
    with open(os.path.join(folder, "sweep.log"), "a") as log:
        status, signalled = run_noting_stops(command, log)
    if status == 3:
        fail(f"{point_name(point)} stopped at a checkpoint (signal); run the sweep again to resume", 3)
    if status != 0:
        fail(f"{point_name(point)}: vfm pretrain exited with status {status} (see {folder}/sweep.log)")
    open(os.path.join(folder, "FINISHED"), "w").close()
    if signalled:
        fail(f"{point_name(point)} finished, then stopped by a signal; run the sweep again for the rest", 3)


def summary_row(out, point):
    """The point's final and best evals and its compute, from its metrics.jsonl ("" where not logged)."""
    folder = os.path.join(out, point_name(point))
    row = {**point, "run_dir": folder, "finished": os.path.exists(os.path.join(folder, "FINISHED"))}
    if not os.path.exists(os.path.join(folder, "metrics.jsonl")):
        return row
    _, train, evals = load_run(folder)
    for field in ("knn_top1", "linear_top1"):
        values = [e[field] for e in evals if field in e]
        row[f"final_{field}"], row[f"best_{field}"] = (values[-1], max(values)) if values else ("", "")
    last = {k: v for r in train + evals for k, v in r.items()}  # the newest value of each field
    row["step"], row["images_seen"], row["flops"] = last.get("step", ""), last.get("images_seen", ""), last.get("flops", "")
    row["device_hours"] = last["device_s"] / 3600 if "device_s" in last else ""
    row["wall_hours"] = last["wall_s"] / 3600 if "wall_s" in last else ""
    return row


def main():
    if len(sys.argv) < 3:
        fail("usage: vfm sweep SPEC.json [--point=I] [--count]", 2)
    vfm, spec_path, options = sys.argv[1], sys.argv[2], sys.argv[3:]
    out, flags, points = load_spec(spec_path)
    if options == ["--count"]:
        print(len(points))
        return
    if options and options[0] == "--point":
        index = int(options[1]) if len(options) == 2 and options[1].isdigit() else -1
        if not 0 <= index < len(points):
            fail(f"--point must be in [0, {len(points) - 1}] ({spec_path} has {len(points)} points)", 2)
        run_point(vfm, out, flags, points[index])
        return
    if options:
        fail(f"unknown arguments {' '.join(options)}", 2)
    for point in points:
        run_point(vfm, out, flags, point)
    rows = [summary_row(out, point) for point in points]
    columns = list(points[0]) + ["finished", "step", "images_seen", "flops", "device_hours", "wall_hours",
                                 "final_knn_top1", "best_knn_top1", "final_linear_top1", "best_linear_top1",
                                 "run_dir"]
    with open(os.path.join(out, "sweep.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    print(os.path.join(out, "sweep.csv"))


if __name__ == "__main__":
    main()

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
relative to the spec's folder. Point I runs in OUT/<axis=value,...>/ with flags + its values + --run_dir
(a path value is named by its last part, or by as many trailing parts, joined by '_', as tell the axis's
values apart). A spec with other keys, non-string flags or a value repeated in an axis is refused.
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

from report import MetricsError, load_run, newest, number
from stop_signals import run_noting_stops


def fail(message, status=1):
    print(f"vfm sweep: {message}", file=sys.stderr)
    sys.exit(status)


def load_spec(path):
    """(out folder, flags, points with their folder names) of a spec; exit 2 on any fault in it."""
    try:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
    except (OSError, ValueError) as e:  # ValueError: not JSON, not UTF-8
        fail(f"{path}: {e}")
    if not isinstance(spec, dict):
        fail(f"{path}: not a JSON object", 2)
    unknown = sorted(set(spec) - {"out", "flags", "axes"})
    if unknown:
        fail(f"{path}: unknown key {unknown[0]!r} (a spec has \"out\", \"flags\" and \"axes\")", 2)
    flags = spec.get("flags", [])
    if not isinstance(spec.get("out"), str) or not isinstance(flags, list) or \
            not all(isinstance(f, str) for f in flags):
        fail(f"{path}: needs \"out\" (a folder) and \"flags\" (a list of vfm pretrain flags, strings)", 2)
    axes = spec.get("axes")
    if not isinstance(axes, dict) or not axes or not all(isinstance(v, list) and v for v in axes.values()):
        fail(f"{path}: \"axes\" must map flag names to non-empty lists of values", 2)
    for axis, values in axes.items():
        if not all(isinstance(v, (str, int, float)) for v in values):
            fail(f"{path}: axis {axis!r}: values must be strings or numbers", 2)
        if len(set(map(str, values))) < len(values):
            fail(f"{path}: axis {axis!r} repeats a value (its points would be one run)", 2)
    out = os.path.join(os.path.dirname(os.path.abspath(path)), spec["out"])
    if os.path.exists(out) and not os.path.isdir(out):
        fail(f"{path}: \"out\" {out} is not a folder", 2)
    names = {axis: value_names(values) for axis, values in axes.items()}
    points = [(dict(zip(axes, values)), ",".join(f"{axis}={names[axis][str(v)]}" for axis, v in zip(axes, values)))
              for values in itertools.product(*axes.values())]
    return out, flags, points


def value_names(values):
    """A folder-name part per value: a path's last part, or as many trailing parts (joined by '_') as make
    the axis's names differ (data subsets /d/10k/data and /d/60k/data: 10k_data, 60k_data)."""
    parts = [str(v).rstrip("/").split("/") for v in values]
    for depth in range(1, max(len(p) for p in parts) + 1):
        names = ["_".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return dict(zip(map(str, values), names))
    return {str(v): str(v).strip("/").replace("/", "_") for v in values}


def run_point(vfm, out, flags, point, name):
    folder = os.path.join(out, name)
    if os.path.exists(os.path.join(folder, "FINISHED")):
        print(f"vfm sweep: {name}: finished, skipped")
        return
    os.makedirs(folder, exist_ok=True)
    command = [vfm, "pretrain", *flags, *(f"--{axis}={value}" for axis, value in point.items()), f"--run_dir={folder}"]
    print(f"vfm sweep: {name}: {' '.join(command)}", flush=True)
    with open(os.path.join(folder, "sweep.log"), "a") as log:
        status, signalled = run_noting_stops(command, log)
    if status == 3:
        fail(f"{name} stopped at a checkpoint (signal); run the sweep again to resume", 3)
    if status != 0:
        fail(f"{name}: vfm pretrain exited with status {status} (see {folder}/sweep.log)")
    open(os.path.join(folder, "FINISHED"), "w").close()
    if signalled:
        fail(f"{name} finished, then stopped by a signal; run the sweep again for the rest", 3)


def summary_row(out, point, name):
    """The point's final and best evals and its compute, from its metrics.jsonl ("" where not logged)."""
    folder = os.path.join(out, name)
    row = {**point, "run_dir": folder, "finished": os.path.exists(os.path.join(folder, "FINISHED"))}
    if not os.path.exists(os.path.join(folder, "metrics.jsonl")):
        return row
    try:
        train, evals = load_run(folder)
    except MetricsError as e:
        fail(f"{e}; {os.path.join(out, 'sweep.csv')} not rewritten")
    for field in ("knn_top1", "linear_top1"):
        values = [v for v in (number(e, field) for e in evals) if v is not None]
        row[f"final_{field}"], row[f"best_{field}"] = (values[-1], max(values)) if values else ("", "")
    for field in ("step", "images_seen", "flops"):
        row[field] = newest(train, evals, field)
    for field in ("device", "wall"):
        seconds = newest(train, evals, f"{field}_s")
        row[f"{field}_hours"] = seconds / 3600 if seconds is not None else None
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
        run_point(vfm, out, flags, *points[index])
        return
    if options:
        fail(f"unknown arguments {' '.join(options)}", 2)
    for point, name in points:
        run_point(vfm, out, flags, point, name)
    rows = [summary_row(out, point, name) for point, name in points]
    columns = list(points[0][0]) + ["finished", "step", "images_seen", "flops", "device_hours", "wall_hours",
                                 "final_knn_top1", "best_knn_top1", "final_linear_top1", "best_linear_top1",
                                 "run_dir"]
    with open(os.path.join(out, "sweep.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    print(os.path.join(out, "sweep.csv"))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""vfm report: PNG plots and a Markdown summary from the metrics.jsonl of one or more run folders.

Usage: report.py RUN... --out DIR   (run by `vfm report`, trainer/cli/report.cc)

A RUN is a run folder, or a sweep's folder (each of its sub-folders with a metrics.jsonl is a run).

Each metrics.jsonl line is {"kind": "train" | "eval", ...}; a line without "kind" is a train line (older
runs). A plot whose fields no run has is skipped, and summary.md says which and why. With evals in two or
more runs (a sweep), the kNN-vs-compute frontier is fitted with err = a * C^-b + c (err = 100 - kNN top-1
in %, C = FLOPs), printed and written to summary.md.
"""
import argparse
import json
import math
import os
import sys

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np


class MetricsError(Exception):
    """A metrics.jsonl that cannot be read; the message names the file (and line)."""


def fail(message, status=1):
    print(f"vfm report: {message}", file=sys.stderr)
    sys.exit(status)


def load_run(path):
    """(train lines, eval lines) of a run folder, each list in the file's order. A last line without its
    newline that is not JSON is a line being written (a live run) and is left out."""
    file = os.path.join(path, "metrics.jsonl")
    if not os.path.isfile(file):
        raise MetricsError(f"{path} has no metrics.jsonl (not a run folder)")
    try:
        lines = open(file, encoding="utf-8").read().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise MetricsError(f"{file}: {e}") from e
    train, evals = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if number == len(lines):  # no newline after it: still being written
                continue
            raise MetricsError(f"{file}:{number}: not JSON ({e.msg})") from e
        if not isinstance(record, dict):
            raise MetricsError(f"{file}:{number}: not a JSON object")
        (evals if record.get("kind", "train") == "eval" else train).append(record)
    return train, evals


def number(record, field):
    """The record's field if it is a finite number, else None (NaN is logged as null)."""
    value = record.get(field)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def newest(train, evals, field):
    """The field's value in the line of the highest step that has it (a train line and an eval line of the
    same step agree on the step's counts)."""
    lines = sorted((r for r in train + evals if number(r, field) is not None), key=lambda r: number(r, "step") or 0)
    return lines[-1][field] if lines else None


def run_folders(path):
    """[path] for a run folder; a sweep's folder (vfm sweep's "out") gives its points' run folders."""
    if os.path.isfile(os.path.join(path, "metrics.jsonl")):
        return [path]
    points = sorted(os.path.join(path, d) for d in os.listdir(path)) if os.path.isdir(path) else []
    points = [p for p in points if os.path.isfile(os.path.join(p, "metrics.jsonl"))]
    if not points:
        fail(f"{path} has no metrics.jsonl (not a run folder, nor a sweep's folder of them)", 2)
    return points


def run_labels(paths):
    """A label per run folder: its name, or as many trailing path parts as make the labels differ."""
    parts = [os.path.normpath(os.path.abspath(p)).split(os.sep) for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(set(map(tuple, parts))):
            return labels
    return ["/".join(p) for p in parts]


def series(records, x, y):
    """The (x, y) pairs of the records that have both fields."""
    pairs = [(number(r, x), number(r, y)) for r in records]
    pairs = [p for p in pairs if None not in p]
    return [p[0] for p in pairs], [p[1] for p in pairs]


class Report:
    def __init__(self, runs, out):
        self.runs, self.out = runs, out
        self.plots, self.skipped = [], []

    def panels(self, filename, title, x, fields, which="train", optional=()):
        """One figure, one panel per field present in some run, every run a line in each panel. A missing field
        is noted in summary.md unless it is `optional` (logged only by runs with a flag, e.g. --koleo)."""
        index = 1 if which == "train" else 2
        present = [f for f in fields if any(series(run[index], x, f)[0] for run in self.runs)]
        missing = [f for f in fields if f not in present and f not in optional]
        if not present:
            self.skipped.append(f"{filename}: no run has {x} with any of {', '.join(fields)}")
            return
        if missing:
            self.skipped.append(f"{filename}: no run has {', '.join(missing)} (panels left out)")
        fig, axes = plt.subplots(1, len(present), figsize=(4.5 * len(present), 3.6), squeeze=False)
        for ax, field in zip(axes[0], present):
            for name, *lines in self.runs:
                xs, ys = series(lines[index - 1], x, field)
                if xs:
                    ax.plot(xs, ys, marker="o" if which == "eval" else None, markersize=3, label=name)
            ax.set_xlabel(x)
            ax.set_title(field)
            ax.grid(alpha=0.3)
            if x == "flops":
                ax.set_xscale("log")
            else:  # 50k, 100k: plain numbers this long overlap
                ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))
        axes[0][0].legend(fontsize=7)
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(os.path.join(self.out, filename), dpi=100)
        plt.close(fig)
        self.plots.append(filename)

    def frontier(self):
        """kNN error against compute over every eval of every run; the frontier's power-law fit."""
        points = [(c, 100.0 - knn) for _, _, evals in self.runs for c, knn in zip(*series(evals, "flops", "knn_top1"))
                  if c > 0]
        with_evals = sum(1 for _, _, evals in self.runs if series(evals, "flops", "knn_top1")[0])
        if with_evals < 2:
            self.skipped.append("frontier.png: needs evals with flops and knn_top1 in two or more runs (a sweep)")
            return None
        points.sort()
        frontier = []  # the lowest error reached at or below each compute
        for c, err in points:
            if not frontier or err < frontier[-1][1]:
                frontier.append((c, err))
        fit = None
        if frontier[-1][1] <= 0:
            self.skipped.append("power-law fit: the frontier reaches 0% error (kNN top-1 100%), which no power law "
                                "with an offset c >= 0 fits in log space")
        else:
            fit = fit_power_law(np.array([p[0] for p in frontier]), np.array([p[1] for p in frontier]))
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for name, _, evals in self.runs:
            xs, ys = series(evals, "flops", "knn_top1")
            ax.scatter(xs, [100.0 - y for y in ys], s=12, label=name)
        ax.plot(*zip(*frontier), "k--", lw=1, label="frontier")
        if fit:
            a, b, c = fit
            grid = np.geomspace(frontier[0][0], frontier[-1][0], 100)
            ax.plot(grid, a * grid ** -b + c, "r-", lw=1.5, label=f"{a:.3g}·C^-{b:.3g} + {c:.3g}")
        ax.set_xscale("log")
        ax.set_xlabel("FLOPs")
        ax.set_ylabel("kNN top-1 error (%)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(self.out, "frontier.png"), dpi=100)
        plt.close(fig)
        self.plots.append("frontier.png")
        if not fit and frontier[-1][1] > 0:
            self.skipped.append(f"power-law fit: needs 3 or more frontier points, has {len(frontier)}")
        return fit, len(frontier)


def fit_power_law(C, err):
    """Least squares of log(err - c) = log a - b log C, for the c in [0, min err) with the least residual.

    For a fixed c the fit is linear; c is found by a grid then golden-section search (residuals in log
    space, so every decade of compute weighs the same). Returns (a, b, c) or None with under 3 points.
    """
    if len(C) < 3:
        return None
    x = np.log(C)

    def solve(c):
        y = np.log(err - c)
        slope, intercept = np.polyfit(x, y, 1)
        return float(np.sum((intercept + slope * x - y) ** 2)), math.exp(intercept), -slope

    top = float(err.min())
    grid = np.linspace(0.0, top, 401)[:-1]
    best = int(np.argmin([solve(c)[0] for c in grid]))
    lo, hi = grid[max(best - 1, 0)], grid[best + 1] if best + 1 < len(grid) else top * (1 - 1e-9)
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(100):
        m1, m2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if solve(m1)[0] < solve(m2)[0]:
            hi = m2
        else:
            lo = m1
    c = (lo + hi) / 2
    _, a, b = solve(c)
    return a, b, c


def final(evals, field):
    """The last eval's figure ("nan" where it was not finite, logged as null; "—" without such evals)."""
    logged = [e for e in evals if field in e]
    return "—" if not logged else fmt(number(logged[-1], field), ".2f", missing="nan")


def fmt(value, spec=".4g", missing="—"):
    return missing if value is None else format(value, spec)


def summary(report, fit):
    lines = ["# vfm report", "", "| run | steps | images seen | FLOPs | final loss | final kNN top-1 | best kNN top-1 "
             "(step) | final linear top-1 | mean img/s | mean MFU |", "|" + "---|" * 10]
    for name, train, evals in report.runs:
        knn = [e for e in evals if number(e, "knn_top1") is not None]
        best = max(knn, key=lambda e: e["knn_top1"]) if knn else None
        img_s = series(train, "step", "img_per_s")[1]
        mfu = series(train, "step", "mfu")[1]
        lines.append(" | ".join([
            f"| {name}", fmt(newest(train, evals, "step"), "d"), fmt(newest(train, evals, "images_seen"), "d"),
            fmt(newest(train, evals, "flops"), ".3g"), fmt(newest(train, [], "loss")),
            final(evals, "knn_top1"), f"{best['knn_top1']:.2f} ({best.get('step', '?')})" if best else "—",
            final(evals, "linear_top1"),
            fmt(sum(img_s) / len(img_s) if img_s else None, ".1f"), fmt(sum(mfu) / len(mfu) if mfu else None, ".3g"),
        ]) + " |")
    lines += ["", "## Plots", ""] + [f"- [{p}]({p})" for p in report.plots]
    if fit:
        (a, b, c), n = fit
        lines += ["", "## kNN-vs-compute frontier", "",
                  f"Fitted err = a * C^-b + c on the {n} frontier points (err = 100 - kNN top-1 in %, C = FLOPs):",
                  "", f"a = {a:.6g}, b = {b:.6g}, c = {c:.6g}"]
    if report.skipped:
        lines += ["", "## Skipped", ""] + [f"- {s}" for s in report.skipped]
    with open(os.path.join(report.out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    paths = [run for path in args.runs for run in run_folders(path)]
    try:
        runs = [(label, *load_run(path)) for label, path in zip(run_labels(paths), paths)]
    except MetricsError as e:
        fail(str(e))
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        fail(f"--out {args.out}: {e.strerror}", 2)
    report = Report(runs, args.out)
    report.panels("loss.png", "iBOT loss and its parts", "step", ["loss", "cls_loss", "patch_loss", "koleo_loss"],
                  optional=["koleo_loss"])
    report.panels("schedules.png", "schedules", "step", ["lr", "weight_decay", "momentum", "teacher_temp"])
    report.panels("throughput.png", "throughput", "step", ["img_per_s", "tokens_per_s", "tflop_per_s_per_rank", "mfu"])
    report.panels("eval_images.png", "frozen-teacher evals over images seen", "images_seen",
                  ["knn_top1", "knn_top5", "linear_top1"], which="eval")
    report.panels("eval_flops.png", "frozen-teacher evals over compute", "flops",
                  ["knn_top1", "knn_top5", "linear_top1"], which="eval")
    fit = report.frontier()
    if fit and fit[0]:
        a, b, c = fit[0]
        print(f"frontier fit: err = {a:.6g} * C^-{b:.6g} + {c:.6g} ({fit[1]} points)")
    summary(report, fit if fit and fit[0] else None)
    for p in report.plots + ["summary.md"]:
        print(os.path.join(args.out, p))
    for s in report.skipped:
        print(f"skipped {s}")


if __name__ == "__main__":
    main()

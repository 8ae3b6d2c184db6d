#!/usr/bin/env bash
# vfm report: plots and summary.md from a tiny real run (train lines only: the eval plots and the frontier
# are skipped, and summary.md says so) and from it plus two hand-written runs whose evals follow a known
# power law, err = 40 * (C / 1e12)^-0.3 + 5, which the frontier fit must recover; then hand-written runs
# with the faults a real one can have, and bad input.
source "$(dirname "$0")/common.sh"
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/run" --max_steps=8 > "$WORK/pretrain.log"
/usr/bin/python3 - "$WORK" <<'PY'
import json, os, sys
w = sys.argv[1]
for run, flops in (("sweep_a", [1e12, 3e12, 1e13, 3e13]), ("sweep_b", [2e12, 6e12, 2e13, 6e13, 2e14])):
    os.makedirs(f"{w}/{run}")
    with open(f"{w}/{run}/metrics.jsonl", "w") as f:
        for i, c in enumerate(flops):
            train = {"step": 10 * i, "loss": 5 - 0.1 * i, "cls_loss": 3, "patch_loss": 2 - 0.1 * i, "lr": 1e-3 * i,
                     "img_per_s": 100.0, "mfu": 0.1, "images_seen": 160 * i, "flops": c}
            if run == "sweep_b":
                train["kind"] = "train"  # sweep_a's lines have no "kind", as older runs' lines
            err = 40 * (c / 1e12) ** -0.3 + 5
            f.write(json.dumps(train) + "\n" + json.dumps({"kind": "eval", "step": 10 * i, "images_seen": 160 * i,
                    "flops": c, "knn_top1": 100 - err, "knn_top5": 100 - err / 2}) + "\n")
PY
"$VFM" report "$WORK/run" --out="$WORK/single" > "$WORK/single.log"
"$VFM" report "$WORK/run" "$WORK/sweep_a" "$WORK/sweep_b" --out="$WORK/sweep" > "$WORK/sweep.log"
cat "$WORK/sweep.log"
/usr/bin/python3 - "$WORK" <<'PY'
import os, re, struct, sys
w = sys.argv[1]

def check_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 100 and height > 100, (path, width, height)

train_plots = ["loss.png", "schedules.png", "throughput.png"]
eval_plots = ["eval_images.png", "eval_flops.png", "frontier.png"]
for p in train_plots:
    check_png(f"{w}/single/{p}")
for p in eval_plots:
    assert not os.path.exists(f"{w}/single/{p}"), p
single = open(f"{w}/single/summary.md").read()
assert "| run |" in single and "## Skipped" in single and "frontier.png: needs evals" in single, single
assert "eval_images.png: no run has images_seen with any of knn_top1" in single, single
assert "koleo_loss" not in single, single  # optional: only runs with --koleo log it
for p in train_plots + eval_plots:
    check_png(f"{w}/sweep/{p}")
    assert f"[{p}]({p})" in open(f"{w}/sweep/summary.md").read(), p
summary = open(f"{w}/sweep/summary.md").read()
assert "| sweep_a | 30 | 480 | 3e+13 |" in summary, summary  # the table reads both kinds of line
a, b, c = map(float, re.search(r"a = (\S+), b = (\S+), c = (\S+)", summary).groups())
want_a = 40 * 1e12 ** 0.3
assert abs(a / want_a - 1) < 0.01 and abs(b - 0.3) < 0.001 and abs(c - 5) < 0.01, (a, b, c)
print(f"report: fitted a={a:.6g} (want {want_a:.6g}), b={b:.6g}, c={c:.6g}")
PY
# Runs a user can leave behind: stopped between evals (the table's counts are the newest line's, not the
# last eval's), a NaN kNN (logged as null), kNN 100% in two runs (no power law to fit: skipped, said why), a
# live run's half-written last line; two runs of one name in different folders; a sweep's folder as a RUN.
/usr/bin/python3 - "$WORK" <<'PY'
import json, os, sys
w = sys.argv[1]
def write(run, lines, tail=""):
    os.makedirs(f"{w}/{run}")
    with open(f"{w}/{run}/metrics.jsonl", "w") as f:
        f.write("".join(json.dumps(l) + "\n" for l in lines) + tail)
train = lambda s: {"kind": "train", "step": s, "images_seen": 16 * s, "flops": 1e9 * s, "loss": 10.0 - s}
ev = lambda s, knn: {"kind": "eval", "step": s, "images_seen": 16 * s, "flops": 1e9 * s, "knn_top1": knn}
write("stopped", [train(2), train(4), ev(4, 50.0), train(6)])
write("nan_knn", [train(2), ev(2, 40.0), train(4), ev(4, None)], tail='{"kind": "train", "st')
write("perfect/a", [train(2), ev(2, 90.0), train(4), ev(4, 100.0)])
write("perfect/b", [train(2), ev(2, 95.0), train(4), ev(4, 100.0)])
write("twins/one/x", [train(2)])
write("twins/two/x", [train(4)])
write("not_object", [train(2), [1, 2]])
PY
printf '{"step": 1}\n\xff\n' > "$WORK/bad_utf8.jsonl" && mkdir "$WORK/bad_utf8" && mv "$WORK/bad_utf8.jsonl" "$WORK/bad_utf8/metrics.jsonl"
"$VFM" report "$WORK/stopped" "$WORK/nan_knn" --out="$WORK/edge" > "$WORK/edge.log"
"$VFM" report "$WORK/perfect" --out="$WORK/perfect_out" > "$WORK/perfect.log"
"$VFM" report "$WORK/twins/one/x" "$WORK/twins/two/x" --out="$WORK/twins_out" > "$WORK/twins.log"
/usr/bin/python3 - "$WORK" <<'PY'
import sys
w = sys.argv[1]
edge = open(f"{w}/edge/summary.md").read()
assert "| stopped | 6 | 96 | 6e+09 | 4 | 50.00 | 50.00 (4) |" in edge, edge
assert "| nan_knn | 4 | 64 | 4e+09 | 6 | nan | 40.00 (2) |" in edge, edge
perfect = open(f"{w}/perfect_out/summary.md").read()
assert "| a | 4 |" in perfect and "| b | 4 |" in perfect and "nan" not in perfect, perfect  # the sweep's two points
assert "power-law fit: the frontier reaches 0% error" in perfect, perfect
twins = open(f"{w}/twins_out/summary.md").read()
assert "| one/x | 2 |" in twins and "| two/x | 4 |" in twins, twins
print("report: edge cases ok")
PY
refused 1 "not_object/metrics.jsonl:2: not a JSON object" "$VFM" report "$WORK/not_object" --out="$WORK/x"
refused 1 "bad_utf8/metrics.jsonl: .*utf-8" "$VFM" report "$WORK/bad_utf8" --out="$WORK/x"
touch "$WORK/a_file"
refused 2 "--out .*a_file: File exists" "$VFM" report "$WORK/run" --out="$WORK/a_file"
mkdir -p "$WORK/not_a_run"
refused 2 "not_a_run has no metrics.jsonl" "$VFM" report "$WORK/not_a_run" --out="$WORK/x"
refused 2 "usage: vfm report" "$VFM" report "$WORK/run"
echo "report: ok"

#!/usr/bin/python3
"""One encoder per modality (VisionFM): a `vfm pretrain --modalities=M` run for each modality of a dataset,
each in its own run folder OUT/M, then a kNN evaluation on M alone (with --eval_data/--eval_test_data),
an export of the teacher's encoder, and a summary table of all of them.

  launch/per_modality.py DATA OUT [options] -- PRETRAIN_FLAGS...     every modality, in sequence, then the summary
  launch/per_modality.py DATA OUT --index=I [options] -- FLAGS...    the I-th modality only (a SLURM array task)
  launch/per_modality.py DATA OUT --count                            how many modalities (the array's size)
  launch/per_modality.py DATA OUT --summary                          the summary of the runs that exist

Options: --modalities=a,b (default: every modality of DATA with samples, in index.json's order),
--eval_data=TRAIN --eval_test_data=TEST (labelled datasets; kNN on each run's modality only, at the run's
--global_size), --launcher="PREFIX" (the command vfm pretrain runs under, e.g. "launch/mpirun.sh -n 8 --"
for a separate mpirun per modality, or "srun --mpi=pmix --kill-on-bad-exit=1" inside SLURM),
--vfm=PATH (default build/vfm). Every PRETRAIN_FLAG goes to each run (--data, --modalities and --run_dir
are the launcher's). A modality whose OUT/M has FINISHED is skipped; a half-done one resumes from its newest
checkpoint (vfm pretrain does). Exit status 3: a run stopped at a checkpoint (signal); run again to resume.

The summary (OUT/summary.md and OUT/summary.csv): modality, images of that modality in DATA, steps, images
seen, final loss (the last logged), kNN top-1 (when evaluated), the exported encoder's path.
"""
import argparse
import csv
import json
import os
import shlex
import sys

# trainer/scripts/stop_signals.py: the signal handling vfm sweep shares.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer", "scripts"))
from stop_signals import run_noting_stops  # noqa: E402

COLUMNS = ["modality", "images", "steps", "images_seen", "final_loss", "knn_top1", "export"]


def fail(message, status=1):
    print(f"per_modality.py: {message}", file=sys.stderr)
    sys.exit(status)


def dataset_modalities(data):
    """(names with samples in index.json's order, {name: count}) of the dataset folder `data`."""
    try:
        index = json.load(open(os.path.join(data, "index.json")))
    except (OSError, json.JSONDecodeError) as e:
        fail(f"{data}: not a vfm dataset ({e})", 2)
    counts = index.get("modality_counts", {})
    return [m for m in index.get("modalities", []) if counts.get(m, 0) > 0], counts


def run(modality, command, log):
    """`command`'s exit status; a stop signal meanwhile (SIGTERM, SIGINT, SIGUSR1: vfm pretrain checkpoints
    on it) ends the launcher with status 3 once the command has ended."""
    print(f"per_modality.py: {' '.join(shlex.quote(c) for c in command)}", flush=True)
    with open(log, "a") as f:
        status, signalled = run_noting_stops(command, f)
    if status == 3 or signalled:
        fail(f"{modality}: stopped by a signal{' at a checkpoint' if status == 3 else ''}; run again to resume", 3)
    return status


def train_one(args, modality, flags):
    """Pretraining, kNN (optional) and export of one modality in OUT/<modality>."""
    folder = os.path.join(args.out, modality)
    if os.path.exists(os.path.join(folder, "FINISHED")):
        print(f"per_modality.py: {modality}: finished, skipped")
        return
    os.makedirs(folder, exist_ok=True)
    log = os.path.join(folder, "per_modality.log")
    pretrain = [args.vfm, "pretrain", *flags, f"--data={args.data}", f"--modalities={modality}", f"--run_dir={folder}"]
    status = run(modality, shlex.split(args.launcher) + pretrain, log)
    if status != 0:
        fail(f"{modality}: vfm pretrain exited with status {status} (see {log})")
    if args.eval_data:
        size = int(json.load(open(os.path.join(folder, "flags.json")))["global_size"])
        knn = [args.vfm, "eval", "knn", f"--checkpoint={folder}", f"--data={args.eval_data}",
               f"--test_data={args.eval_test_data}", f"--modalities={modality}", f"--eval_size={size}",
               f"--eval_resize={round(size * 256 / 224)}", f"--json_out={folder}/knn.json"]
        if run(modality, knn, log) != 0:
            fail(f"{modality}: vfm eval knn failed (see {log})")
    export = [args.vfm, "export", f"--checkpoint={folder}", f"--out={folder}/encoder.safetensors", "--overwrite"]
    if run(modality, export, log) != 0:
        fail(f"{modality}: vfm export failed (see {log})")
    open(os.path.join(folder, "FINISHED"), "w").close()


def summary_row(out, modality, count):
    folder = os.path.join(out, modality)
    row = {"modality": modality, "images": count}
    metrics = os.path.join(folder, "metrics.jsonl")
    if os.path.exists(metrics):
        train = [json.loads(line) for line in open(metrics) if line.strip()]
        train = [r for r in train if r.get("kind", "train") == "train"]
        if train:
            row.update(steps=train[-1]["step"], images_seen=train[-1].get("images_seen", ""),
                       final_loss=f"{train[-1]['loss']:.4f}")
    knn = os.path.join(folder, "knn.json")
    if os.path.exists(knn):
        top1 = [r["top1"] for r in json.load(open(knn)).get("per_modality", []) if r["modality"] == modality]
        row["knn_top1"] = f"{top1[0]:.2f}" if top1 else ""
    if os.path.exists(os.path.join(folder, "encoder.safetensors")):
        row["export"] = os.path.join(folder, "encoder.safetensors")
    return row


def write_summary(out, modalities, counts):
    rows = [summary_row(out, m, counts.get(m, 0)) for m in modalities]
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in COLUMNS) + " |" for r in rows]
    open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    argv = sys.argv[1:]
    flags = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(usage=__doc__)
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("--modalities", default="")
    parser.add_argument("--eval_data", default="")
    parser.add_argument("--eval_test_data", default="")
    parser.add_argument("--launcher", default="")
    parser.add_argument("--vfm", default="build/vfm")
    parser.add_argument("--index", type=int)
    parser.add_argument("--count", action="store_true")
    parser.add_argument("--summary", action="store_true")
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if bool(args.eval_data) != bool(args.eval_test_data):
        fail("--eval_data and --eval_test_data go together", 2)
    for flag in flags:
        if flag.split("=")[0] in ("--data", "--modalities", "--run_dir"):
            fail(f"{flag}: the launcher sets --data, --modalities and --run_dir itself", 2)
    present, counts = dataset_modalities(args.data)
    modalities = args.modalities.split(",") if args.modalities else present
    for m in modalities:
        if m not in present:
            fail(f"--modalities: {args.data} has no samples of '{m}' (it has {', '.join(present)})", 2)
    if args.count:
        print(len(modalities))
        return
    os.makedirs(args.out, exist_ok=True)
    if args.summary:
        write_summary(args.out, modalities, counts)
        return
    if args.index is not None:
        if not 0 <= args.index < len(modalities):
            fail(f"--index must be in [0, {len(modalities) - 1}], got {args.index}", 2)
        train_one(args, modalities[args.index], flags)
        return
    for m in modalities:
        train_one(args, m, flags)
    write_summary(args.out, modalities, counts)


if __name__ == "__main__":
    main()

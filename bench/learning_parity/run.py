#!/usr/bin/python3
"""Learning parity: vfm's iBOT recipe and the same recipe in PyTorch (ibot_torch_train.py), trained on the
same Fashion-MNIST shards for the same steps over several seeds, compared by one kNN (`vfm eval knn`).

  run.py prepare              shards Fashion-MNIST: the training set, and the kNN subsets (train / test)
  run.py train SIDE SEED      one training run (SIDE vfm or torch) and its kNN; skipped when its knn.json exists
  run.py baseline             kNN of the untrained ViT (vfm eval --init=random), for scale
  run.py report               curves CSV, Markdown verdict and figure under --results
  run.py views                where an early [CLS] loss gap comes from (views, the step or the initial weights):
                              vfm's views (`vfm views`) against torchvision's, PyTorch trained on them, from its
                              own initial weights and from vfm's (see views())
`run.py all` does all of them in order. Run it with Debian's /usr/bin/python3 (matplotlib, torch, h5py). Every step is a separate process, so each can be run under the
project's build lock on its own (bench/README.md). Run from the repository root.
"""
import argparse
import csv
import datetime
import gzip
import json
import math
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FASHION = "/usr/share/datasets/fashion-mnist"
SIDES = ("vfm", "torch")


def sh(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def flagfile_batch(path):
    """The recipe's --batch (vfm's default where the flagfile has none): sizes vfm's budget of --steps."""
    batch = 128
    for line in open(path):
        if line.startswith("--batch="):
            batch = int(line.strip().split("=", 1)[1])
    return batch


def write_idx_subset(src, dst, n):
    """The first n items of a gzipped IDX file (images or labels) as a gzipped IDX file."""
    with gzip.open(src, "rb") as f:
        head = f.read(4)
        dims = [int.from_bytes(f.read(4), "big") for _ in range(head[3])]
        item = math.prod(dims[1:])
        body = f.read(n * item)
    with gzip.open(dst, "wb") as f:
        f.write(head + b"".join(d.to_bytes(4, "big") for d in [n] + dims[1:]) + body)


def prepare(a):
    data = os.path.join(a.work, "data")
    os.makedirs(data, exist_ok=True)
    sets = {"train": ("train", 60000), "knn_train": ("train", a.knn_train), "knn_test": ("t10k", a.knn_test)}
    for name, (split, n) in sets.items():
        out = os.path.join(data, name)
        if os.path.exists(os.path.join(out, "index.json")):
            continue
        files = [f"{FASHION}/{split}-{kind}-idx{d}-ubyte.gz" for kind, d in (("images", 3), ("labels", 1))]
        if n < 60000:
            subset = [os.path.join(data, f"{name}-{os.path.basename(f)}") for f in files]
            for f, s in zip(files, subset):
                write_idx_subset(f, s, n)
            files = subset
        sh([a.vfm, "shard", f"--idx_images={files[0]}", f"--idx_labels={files[1]}", f"--output={out}",
            "--modality=fashion"])


def knn(a, checkpoint, out_json, extra=()):
    d = os.path.join(a.work, "data")
    sh([a.vfm, "eval", "knn", f"--data={d}/knn_train", f"--test_data={d}/knn_test", f"--checkpoint={checkpoint}",
        "--eval_size=28", "--eval_resize=28", f"--eval_threads={a.threads}", f"--json_out={out_json}", *extra])


def train(a):
    run = os.path.join(a.work, f"{a.side}-seed{a.seed}")
    if os.path.exists(os.path.join(run, "knn.json")):
        print(f"{run}: done already")
        return
    data = os.path.join(a.work, "data", "train")
    if a.side == "vfm":
        sh([a.vfm, "pretrain", f"--flagfile={a.flagfile}", f"--data={data}", f"--run_dir={run}",
            f"--budget_images={a.steps * a.batch}", "--budget_minutes=0", f"--seed={a.seed}", "--log_every=1",
            "--max_minutes=0", "--norm=imagenet",
            f"--data_threads={a.threads}", f"--checkpoint_every={a.steps}", "--resume=false"])
        checkpoint = run
    else:
        sh(["/usr/bin/python3", os.path.join(HERE, "ibot_torch_train.py"), f"--data={data}", f"--out={run}",
            f"--steps={a.steps}", f"--seed={a.seed}", f"--flagfile={a.flagfile}", f"--threads={a.threads}"])
        checkpoint = os.path.join(run, "imported")
        sh([a.vfm, "import", f"--weights={run}/teacher.safetensors", f"--run_dir={checkpoint}",
            f"--flagfile={a.flagfile}"])
    knn(a, checkpoint, os.path.join(run, "knn.json"))


def baseline(a):
    out = os.path.join(a.work, "random-init")
    if not os.path.exists(os.path.join(out, "knn.json")):
        os.makedirs(out, exist_ok=True)
        # Any checkpoint gives the architecture; --init=random evaluates it untrained (seed 0's weights).
        knn(a, os.path.join(a.work, "vfm-seed0"), os.path.join(out, "knn.json"), ["--init=random"])


def curves(a, side, seed):
    """[(step, loss, cls_loss, patch_loss, seconds)] of one run."""
    run = os.path.join(a.work, f"{side}-seed{seed}")
    rows = []
    if side == "vfm":
        for line in open(os.path.join(run, "metrics.jsonl")):
            j = json.loads(line)
            if j.get("kind") == "train":
                rows.append((j["step"], j["loss"], j["cls_loss"], j["patch_loss"], j["wall_s"]))
    else:
        for r in csv.DictReader(open(os.path.join(run, "curve.csv"))):
            rows.append((int(r["step"]), float(r["loss"]), float(r["cls_loss"]), float(r["patch_loss"]),
                         float(r["seconds"])))
    return rows


def view_statistics(a, path):
    """Per-view statistics of vfm's views (the `vfm views` file) and of torchvision's (ibot_torch_train's
    MultiCrop) for the same samples, in [0, 1] pixel units: Markdown table rows."""
    import h5py
    import numpy as np
    import torch
    sys.path.insert(0, HERE)
    import ibot_torch_train as tt
    f = tt.read_flagfile(a.flagfile)
    shards = tt.Shards(os.path.join(a.work, "data", "train"))
    torch.manual_seed(0)
    torchvision_views = tt.MultiCrop(f, shards, 0)
    mean, std = shards.mean.numpy(), shards.std.numpy()
    sides = {"vfm": {}, "torchvision": {}}
    with h5py.File(path, "r") as file:
        for k in range(file["ids"].shape[0]):
            g, l = file["global"][k][:, :, 0] / 255.0, file["local"][k][:, :, 0] / 255.0  # [crops, B, S, S]
            tg, tl, _ = torchvision_views.batch([int(i) for i in file["ids"][k]])
            tg = np.stack([(x.numpy() * std + mean)[:, 0] for x in tg])
            tl = np.stack([(x.numpy() * std + mean)[:, 0] for x in tl])
            for side, (gs, ls) in {"vfm": (g, l), "torchvision": (tg, tl)}.items():
                views = {"global crop 1": gs[0], "global crop 2": gs[1], "local crops": ls.reshape(-1, *ls.shape[2:])}
                for kind, v in views.items():
                    stats = {"mean": v.mean((1, 2)), "std within the view": v.std((1, 2)),
                             "mean abs horizontal gradient": np.abs(np.diff(v, axis=2)).mean((1, 2)),
                             "share of pixels < 0.05": (v < 0.05).mean((1, 2))}
                    for name, values in stats.items():
                        sides[side].setdefault((kind, name), []).append(values)
                sides[side].setdefault(("global 1 vs 2", "mean abs difference"), []).append(
                    np.abs(gs[0] - gs[1]).mean((1, 2)))
    rows = []
    for key in sides["vfm"]:
        v, t = np.concatenate(sides["vfm"][key]), np.concatenate(sides["torchvision"][key])
        se = math.sqrt(v.var() / len(v) + t.var() / len(t))
        rows.append(f"| {key[0]} | {key[1]} | {v.mean():.4f} | {t.mean():.4f} | {(v.mean() - t.mean()) / se:+.1f} |")
    return rows


def cls_curve(path):
    """{step: [CLS] loss} of a PyTorch trainer's curve.csv."""
    return {int(r["step"]): float(r["cls_loss"]) for r in csv.DictReader(open(path))}


def span_means(curve, spans):
    return " | ".join(f"{statistics.mean(curve[i] for i in range(lo, hi + 1)):.3f}" for lo, hi in spans)


def torch_run(a, run, seed, views_file, steps, init=None):
    """The PyTorch trainer on a `vfm views` file for `steps` steps of the --steps run (skipped when done)."""
    if not os.path.exists(os.path.join(run, "teacher.safetensors")):
        sh(["/usr/bin/python3", os.path.join(HERE, "ibot_torch_train.py"), f"--data={a.work}/data/train",
            f"--out={run}", f"--steps={a.steps}", f"--stop_after={steps}", f"--seed={seed}", f"--flagfile={a.flagfile}",
            f"--threads={a.threads}", f"--views={views_file}", *([f"--init={init}"] if init else [])])
    return cls_curve(os.path.join(run, "curve.csv"))


def vfm_initial_weights(a, seed):
    """vfm's initial student weights for `seed`: the lr is 0 at the first step (the warm-up starts at 0), so
    the weights after one step are the initial ones."""
    run = os.path.join(a.work, "init", f"vfm-seed{seed}")
    weights = os.path.join(run, "ckpt-00000001", "student.safetensors")
    if not os.path.exists(weights):
        sh([a.vfm, "pretrain", f"--flagfile={a.flagfile}", f"--data={a.work}/data/train", f"--run_dir={run}",
            f"--budget_images={a.steps * a.batch}", "--budget_minutes=0", "--max_minutes=0", f"--seed={seed}",
            "--norm=imagenet", f"--data_threads={a.threads}", "--max_steps=1", "--checkpoint_every=1",
            "--resume=false"])
    return weights


def views(a):
    """Where the early [CLS] loss gap comes from: (1) vfm's views against torchvision's for the same samples;
    (2) PyTorch on vfm's own views and masks (its own initial weights) beside both sides' recorded curves;
    (3) PyTorch on seed 0's views from vfm's own initial weights, step by step against vfm's recorded curve;
    (4) on one set of views (seed 0's), vfm's initial weights against PyTorch's over --init_seeds."""
    folder = os.path.join(a.work, "views")
    os.makedirs(folder, exist_ok=True)
    views_file = {}
    for s in a.seed_list:
        views_file[s] = os.path.join(folder, f"vfm-seed{s}.h5")
        if not os.path.exists(views_file[s]):
            sh([a.vfm, "views", f"--flagfile={a.flagfile}", f"--data={a.work}/data/train", f"--batches={a.view_steps}",
                f"--seed={s}", f"--data_threads={a.threads}", f"--out={views_file[s]}"])
    recorded = {}
    for r in csv.DictReader(open(os.path.join(a.results, "learning_parity_curves.csv"))):
        recorded.setdefault((r["side"], int(r["seed"])), {})[int(r["step"])] = float(r["cls_loss"])
    spans = ((6, 10), (21, 60), (61, a.view_steps))
    lines = ["| view | statistic | vfm | torchvision | difference / its standard error |", "|---|---|---|---|---|",
             *view_statistics(a, views_file[a.seed_list[0]]), "",
             f"| run | [CLS] loss, steps 6-10 | steps 21-60 | steps 61-{a.view_steps} |", "|---|---|---|---|"]
    for s in a.seed_list:
        lines.append(f"| vfm (recorded), seed {s} | {span_means(recorded[('vfm', s)], spans)} |")
    for s in a.seed_list:
        lines.append(f"| PyTorch, torchvision's views (recorded), seed {s} | {span_means(recorded[('torch', s)], spans)} |")
    for s in a.seed_list:
        curve = torch_run(a, os.path.join(a.work, f"torch-vfmviews-seed{s}"), s, views_file[s], a.view_steps)
        lines.append(f"| PyTorch on vfm's views and masks, seed {s} | {span_means(curve, spans)} |")
    s0 = a.seed_list[0]
    same = torch_run(a, os.path.join(a.work, "init", f"torch-vfminit-seed{s0}"), s0, views_file[s0], a.view_steps,
                     vfm_initial_weights(a, s0))
    gap = max(abs(same[i] - recorded[("vfm", s0)][i]) for i in same)
    lines += ["", f"PyTorch on seed {s0}'s views from vfm's initial weights of seed {s0}, against vfm's recorded "
              f"seed-{s0} run: largest |difference| of the [CLS] loss over steps 1-{a.view_steps}: {gap:.2e}.", "",
              f"| initial weights (views of seed {s0}) | seed | [CLS] loss, steps 6-10 | steps 21-60 |", "|---|---|---|---|"]
    spans = ((6, 10), (21, 60))
    for s in [int(x) for x in a.init_seeds.split(",")]:
        for name, init in (("vfm's", vfm_initial_weights(a, s)), ("PyTorch's", None)):
            kind = "vfminit" if init else "torchinit"
            steps = a.view_steps if s == s0 else 60
            run = (os.path.join(a.work, f"torch-vfmviews-seed{s}") if s == s0 and not init  # (2)'s run
                   else os.path.join(a.work, "init", f"torch-{kind}-seed{s}"))
            curve = torch_run(a, run, s, views_file[s0], steps, init)
            lines.append(f"| {name} | {s} | {span_means(curve, spans)} |")
    print("\n".join(lines))


def machine():
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    return "unknown CPU"


def report(a):
    seeds = [int(s) for s in a.seeds.split(",")]
    top1 = {side: [json.load(open(os.path.join(a.work, f"{side}-seed{s}", "knn.json")))["top1"] for s in seeds]
            for side in SIDES}
    baseline_json = os.path.join(a.work, "random-init", "knn.json")
    random_init = json.load(open(baseline_json))["top1"] if os.path.exists(baseline_json) else None
    run_curves = {(side, s): curves(a, side, s) for side in SIDES for s in seeds}
    os.makedirs(a.results, exist_ok=True)
    with open(os.path.join(a.results, "learning_parity_curves.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["side", "seed", "step", "loss", "cls_loss", "patch_loss", "seconds", "knn_top1_final"])
        for (side, s), rows in run_curves.items():
            for r in rows:
                w.writerow([side, s, *r[:4], f"{r[4]:.2f}", top1[side][seeds.index(s)] if r[0] == a.steps else ""])

    n = len(seeds)
    mean = {side: statistics.mean(top1[side]) for side in SIDES}
    std = {side: statistics.stdev(top1[side]) for side in SIDES}
    se = math.sqrt((std["vfm"] ** 2 + std["torch"] ** 2) / n)
    diff, tol = mean["vfm"] - mean["torch"], 2 * se
    holds = abs(diff) <= tol
    last10 = {side: [statistics.mean(r[1] for r in run_curves[(side, s)][-10:]) for s in seeds] for side in SIDES}
    seconds = {side: [run_curves[(side, s)][-1][4] for s in seeds] for side in SIDES}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    today = datetime.date.today().isoformat()

    lines = [
        "# Learning parity: vfm against the same iBOT recipe in PyTorch",
        "",
        f"Measured {today} at commit {commit} on {machine()} with `bench/learning_parity/run.py` "
        f"(one run at a time). Recipe `{a.flagfile}` run for {a.steps} steps of batch {a.batch} "
        f"(`--budget_images={a.steps * a.batch}`: every schedule spans the {a.steps} steps), normalised with "
        "ImageNet's statistics on both sides (`--norm=imagenet`: what the PyTorch trainer implements; the "
        f"flags file's default is the dataset's), seeds {a.seeds} on each side. vfm: `vfm pretrain`; PyTorch: "
        "`bench/learning_parity/ibot_torch_train.py` "
        "(tests/parity's reference model and loss, torchvision 0.14 augmentation, vfm's masking, initialisation "
        "and schedules). Each side draws its own data order, views and masks from its seed. Both teachers are "
        "scored by the same `vfm eval knn` (the PyTorch teacher through `vfm import`): weighted kNN, k = 20, "
        f"T = 0.07, [CLS] features at 28 px, memory = the first {a.knn_train:,} Fashion-MNIST training images, "
        f"queries = the first {a.knn_test:,} test images (a subset: the full 60k/10k kNN takes 2m45s per "
        "teacher on this machine).",
        "",
        "| seed | vfm kNN top-1 | PyTorch kNN top-1 | vfm loss, last 10 steps | PyTorch loss, last 10 steps |",
        "|---|---|---|---|---|",
    ]
    for i, s in enumerate(seeds):
        lines.append(f"| {s} | {top1['vfm'][i]:.2f}% | {top1['torch'][i]:.2f}% | {last10['vfm'][i]:.3f} | "
                     f"{last10['torch'][i]:.3f} |")
    lines += [
        f"| mean ± std | {mean['vfm']:.2f} ± {std['vfm']:.2f}% | {mean['torch']:.2f} ± {std['torch']:.2f}% | "
        f"{statistics.mean(last10['vfm']):.3f} ± {statistics.stdev(last10['vfm']):.3f} | "
        f"{statistics.mean(last10['torch']):.3f} ± {statistics.stdev(last10['torch']):.3f} |",
        "",
        f"The untrained ViT (`--init=random`) scores {random_init:.2f}% on the same kNN." if random_init is not None
        else "The untrained ViT was not scored (`run.py baseline` did not run).",
        "",
        "**Criterion.** The two means agree when |mean_vfm − mean_torch| ≤ 2·sqrt(s_vfm²/n + s_torch²/n), "
        "n = seeds per side: two standard errors of the difference of means, each side's seed-to-seed standard "
        "deviation s measured here: about a 95% band for normally spread seeds. A two-sample t-test's 95% band is "
        "wider with this few seeds (2.78 standard errors for 3 seeds per side, 4 degrees of freedom; 4.30 for 2 "
        "per side), so 2 is the stricter band.",
        "",
        f"**Result.** Difference {diff:+.2f} points, tolerance ±{tol:.2f} points: "
        + ("**the criterion holds**." if holds else "**the criterion does not hold**."),
        "",
        f"Time per run (training only, {a.steps} steps): vfm {statistics.mean(seconds['vfm']):.0f} s, "
        f"PyTorch {statistics.mean(seconds['torch']):.0f} s (mean over seeds; the machine was shared with "
        "other work, so these are not speed figures).",
        "",
        "Curves per step: `learning_parity_curves.csv`; figure: `learning_parity.png`.",
    ]
    md = "\n".join(lines) + "\n"
    open(os.path.join(a.results, "learning_parity.md"), "w").write(md)
    print(md)
    plot(a, seeds, run_curves, top1, random_init)


def plot(a, seeds, run_curves, top1, random_init):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colours = {"vfm": "tab:blue", "torch": "tab:orange"}
    names = {"vfm": "vfm", "torch": "PyTorch"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [2, 2, 1]})
    for side in SIDES:
        for k, key in enumerate((1, 3)):
            for s in seeds:
                rows = run_curves[(side, s)]
                label = f"{names[side]} (seeds {','.join(map(str, seeds))})" if s == seeds[0] else None
                axes[k].plot([r[0] for r in rows], [r[key] for r in rows], color=colours[side], alpha=0.3,
                             lw=0.8, label=label)
            # The mean over seeds of a 10-step running mean: the trend under the per-batch noise.
            steps = [r[0] for r in run_curves[(side, seeds[0])]]
            smooth = [statistics.mean(statistics.mean(r[key] for r in run_curves[(side, s)][max(0, i - 9):i + 1])
                                      for s in seeds) for i in range(len(steps))]
            axes[k].plot(steps, smooth, color=colours[side], lw=2.2, label=f"{names[side]}, mean of seeds, 10-step mean")
    axes[0].set_title("iBOT loss (total) per step")
    axes[1].set_title("patch (MIM) part of the loss")
    for ax in axes[:2]:
        ax.set_xlabel("step")
        ax.legend()
    for i, side in enumerate(SIDES):
        xs = [i + 0.08 * (j - 1) for j in range(len(seeds))]
        axes[2].scatter(xs, top1[side], color=colours[side], zorder=3)
        m, sd = statistics.mean(top1[side]), statistics.stdev(top1[side])
        axes[2].errorbar([i + 0.3], [m], yerr=[sd], fmt="o", color="black", capsize=4)
    if random_init is not None:
        axes[2].axhline(random_init, color="grey", ls="--", lw=1, label="untrained ViT")
        axes[2].legend(loc="lower right")
    axes[2].set_xticks([0, 1], [names[s] for s in SIDES])
    axes[2].set_xlim(-0.5, 1.6)
    axes[2].set_title(f"kNN top-1 after {a.steps} steps (%)")
    fig.tight_layout()
    fig.savefig(os.path.join(a.results, "learning_parity.png"), dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["prepare", "train", "baseline", "report", "views", "all"])
    ap.add_argument("side", nargs="?", choices=SIDES)
    ap.add_argument("seed", nargs="?", type=int)
    ap.add_argument("--vfm", default="build/vfm")
    ap.add_argument("--work", default="runs/learning_parity")
    ap.add_argument("--results", default="bench/results")
    ap.add_argument("--flagfile", default="launch/configs/cpu_small.flags")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--knn_train", type=int, default=10000)
    ap.add_argument("--knn_test", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--view_steps", type=int, default=100, help="run.py views: steps trained on vfm's views")
    ap.add_argument("--init_seeds", default="0,1,2,3,4,5", help="run.py views: seeds of the initial weights compared")
    a = ap.parse_args()
    a.seed_list = [int(s) for s in a.seeds.split(",")]
    a.batch = flagfile_batch(a.flagfile)
    if a.command == "train":
        if a.side is None or a.seed is None:
            sys.exit("run.py train SIDE SEED")
        train(a)
    elif a.command == "all":
        prepare(a)
        for s in a.seeds.split(","):
            for side in SIDES:
                a.side, a.seed = side, int(s)
                train(a)
        baseline(a)
        report(a)
    else:
        {"prepare": prepare, "baseline": baseline, "report": report, "views": views}[a.command](a)


if __name__ == "__main__":
    main()

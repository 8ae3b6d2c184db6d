#!/usr/bin/env python3
"""The iBOT recipe of `vfm pretrain` in plain PyTorch, for the learning-parity benchmark (README.md here).

The model, the loss and the forward are tests/parity/vit_ibot_reference.py's (imported, not copied; the
five-step parity test holds them equal to vfm's). This file adds what a training run needs, each following
vfm's implementation rather than iBOT's where the two differ (the file named says where vfm does it):
  - data: vfm's shard files read with h5py (data/shard_format.h), a per-epoch shuffle of this run's seed;
  - views: torchvision 0.14 transforms on PIL images (data/augment.h, data/multicrop.cc): RandomResizedCrop
    (bicubic, ratio 0.8-1.2), flip, ColorJitter (p 0.8), RandomGrayscale (0.2), GaussianBlur (kernel 9,
    sigma 0.1-max; p 1.0 / 0.1 for global crops 1 / 2, --local_blur_p for local ones), RandomSolarize (128;
    p 0 / 0.2), ToTensor, gray widened to 3 planes, ImageNet's mean/std (run.py trains vfm with
    --norm=imagenet to match);
  - masks: blockwise, per global crop (data/masking.cc);
  - initialisation (autograd/nn/module.cc, vit.cc, ibot_head.cc): Linear weights N(0, 0.02) truncated at
    2 std, biases 0, cls/pos N(0, 0.02) truncated, mask token 0, patch embedding and last layer
    uniform(+-1/sqrt(fan_in)); the teacher starts as a copy;
  - schedules per step (trainer/schedule.cc, budget.cc): lr linear warm-up from 0 then cosine, lr scaled by
    batch/256; weight decay and EMA momentum cosine; teacher temperatures linear over whole epochs; the
    last layer frozen (no gradient: AdamW skips it) while step / steps_per_epoch < freeze_last_layer;
  - the step (trainer/ibot_step.cc): the KoLeo term when the recipe has --koleo (trainer/koleo_loss.h),
    per-parameter clip, AdamW (no decay on biases and 1-D parameters), EMA of every parameter, centres
    updated after the EMA.
With --views=FILE (`vfm views`'s output for the same recipe and seed) the run trains on vfm's own crops and
masks instead (batch k of the file at step k), to tell a difference in the views from one in the training;
with --init=FILE it starts from vfm's own initial weights too.
Writes OUT/curve.csv (per step: loss, its parts, lr, wd, momentum, seconds) and OUT/teacher.safetensors
(the teacher backbone in timm names, for `vfm import` + `vfm eval knn`).
Usage: ibot_torch_train.py --data=DATASET --out=DIR --steps=N --seed=S [--flagfile=launch/configs/...flags]
       [--views=FILE] [--init=FILE] [--stop_after=M]
"""
import argparse
import csv
import io
import json
import math
import os
import random
import sys
import time

import h5py
import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "parity"))
import vit_ibot_reference as ref  # noqa: E402

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # data/loader.h
ARCH_DIM = {"vit_tiny": (192, 12, 3), "vit_small": (384, 12, 6), "vit_base": (768, 12, 12)}
# vfm pretrain's defaults (trainer/cli/pretrain.cc) for the flags this trainer reads.
DEFAULTS = dict(arch="vit_base", patch=16, depth=0, heads=0, drop_path=0.1, out_dim=8192, head_hidden=2048,
                head_bottleneck=256, global_crops=2, global_size=224, global_scale_min=0.32, global_scale_max=1.0,
                local_crops=0, local_size=96, local_scale_min=0.05, local_scale_max=0.32, flip_p=0.5, jitter_p=0.8,
                global_blur_p="1.0,0.1",
                global_solarize_p="0.0,0.2", local_blur_p=0.5, blur_sigma_max=2.0, mask_ratio_min=0.1,
                mask_ratio_max=0.5, mask_prob_none=0.5, batch=128, epochs=100, lr=7.5e-5, min_lr=2e-6,
                warmup_epochs=50.0, weight_decay=0.04, weight_decay_end=0.4, momentum_teacher=0.996, clip_grad=3.0,
                freeze_last_layer=3.0, student_temp=0.1, teacher_temp=0.04, warmup_teacher_temp=0.04,
                teacher_patch_temp=0.07, warmup_teacher_patch_temp=0.04, warmup_teacher_temp_epochs=30,
                lambda1=1.0, lambda2=1.0, layerscale=0.0, koleo=0.0)


def read_flagfile(path):
    """vfm's flagfile (--name=value lines, # comments) over DEFAULTS; flags this trainer does not model are
    ignored unless they change the recipe (then it refuses)."""
    flags = dict(DEFAULTS)
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line[2:].partition("=")
        if name in flags:
            flags[name] = type(DEFAULTS[name])(value) if not isinstance(DEFAULTS[name], str) else value
    if flags["drop_path"] != 0 or flags["layerscale"] != 0 or flags["lambda1"] != 1 or flags["lambda2"] != 1:
        sys.exit(f"{path}: drop path, LayerScale and loss weights other than 1 are not in the reference model")
    return flags


class Shards:
    """Every sample of a vfm dataset folder (index.json + shard-*.h5), read whole into memory."""

    def __init__(self, folder):
        index = json.load(open(os.path.join(folder, "index.json")))
        self.images = []
        for shard in index["shards"]:
            with h5py.File(os.path.join(folder, shard["file"]), "r") as f:
                data, off = f["bytes"][:], f["offset"][:]
                h, w, c, codec = f["height"][:], f["width"][:], f["channels"][:], f["codec"][:]
                for i in range(len(h)):
                    raw = data[off[i]:off[i + 1]]
                    if codec[i] == 2:  # raw: height x width x channels
                        arr = raw.reshape(h[i], w[i], c[i])
                        self.images.append(Image.fromarray(arr[:, :, 0] if c[i] == 1 else arr))
                    else:  # JPEG / PNG
                        self.images.append(Image.open(io.BytesIO(raw.tobytes())).convert("L" if c[i] == 1 else "RGB"))
        # ImageNet's statistics: run.py trains vfm with --norm=imagenet to match (an imported teacher is evaluated
        # with them too: vfm import records no dataset statistics).
        self.mean, self.std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)


def view_transform(f, size, scale, blur_p, solarize_p):
    return T.Compose([
        T.RandomResizedCrop(size, scale=scale, ratio=(0.8, 1.2), interpolation=T.InterpolationMode.BICUBIC),
        T.RandomHorizontalFlip(f["flip_p"]),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=f["jitter_p"]),
        T.RandomGrayscale(0.2),
        T.RandomApply([T.GaussianBlur(9, sigma=(0.1, f["blur_sigma_max"]))], p=blur_p),
        T.RandomSolarize(128, p=solarize_p),
        T.ToTensor(),
    ])


def block_mask(rng, grid, ratio, min_aspect=0.3):
    """data/masking.cc's BlockMask on a grid x grid patch grid."""
    mask = np.zeros((grid, grid), dtype=bool)
    target, low, masked = ratio * grid * grid, float((grid // 3) ** 2), 0
    while masked < target:
        remaining, added = target - masked, 0
        for _ in range(10):
            area = low + (remaining - low) * rng.random()
            aspect = math.exp(math.log(min_aspect) - 2 * math.log(min_aspect) * rng.random())
            h, w = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if w >= grid or h >= grid:
                continue
            top, left = rng.randrange(grid - h + 1), rng.randrange(grid - w + 1)
            fresh = h * w - int(mask[top:top + h, left:left + w].sum())
            if 0 < fresh <= remaining:
                mask[top:top + h, left:left + w] = True
                added = fresh
                break
        if added == 0:
            break
        masked += added
    return mask.reshape(-1)


class MultiCrop:
    def __init__(self, f, shards, seed):
        n_g = f["global_crops"]
        per = lambda values, v: float(values.split(",")[min(v, len(values.split(",")) - 1)])
        self.globals = [view_transform(f, f["global_size"], (f["global_scale_min"], f["global_scale_max"]),
                                       per(f["global_blur_p"], v), per(f["global_solarize_p"], v)) for v in range(n_g)]
        self.local = view_transform(f, f["local_size"], (f["local_scale_min"], f["local_scale_max"]),
                                    f["local_blur_p"], 0.0)
        self.n_local, self.f, self.shards = f["local_crops"], f, shards
        self.mask_rng = random.Random(seed)

    def mask(self):
        f = self.f
        none = self.mask_rng.random() < f["mask_prob_none"]
        ratio = self.mask_rng.uniform(f["mask_ratio_min"], f["mask_ratio_max"])
        return block_mask(self.mask_rng, f["global_size"] // f["patch"], 0.0 if none else ratio)

    def batch(self, ids):
        """Crop-major lists as the reference's forward takes them: globals[v] [B,3,S,S], locals, masks[v] [B,N]."""
        def norm(x):
            return (x.expand(3, -1, -1) - self.shards.mean) / self.shards.std
        images = [self.shards.images[i] for i in ids]
        globals_ = [torch.stack([norm(t(im)) for im in images]) for t in self.globals]
        locals_ = [torch.stack([norm(self.local(im)) for im in images]) for _ in range(self.n_local)]
        masks = [torch.from_numpy(np.stack([self.mask() for _ in ids])) for _ in self.globals]
        return globals_, locals_, masks


class VfmViews:
    """`vfm views`'s file: vfm's crops (uint8, planar RGB) and masks of a run's first batches, normalised here
    as MultiCrop.batch normalises torchvision's."""

    def __init__(self, path, shards):
        self.file, self.shards = h5py.File(path, "r"), shards

    def batches(self):
        return self.file["global"].shape[0]

    def batch(self, step):
        def crops(name):
            if name not in self.file:
                return []
            x = torch.from_numpy(self.file[name][step]).float() / 255  # [crops, B, 3, S, S]
            return [(v - self.shards.mean) / self.shards.std for v in x]
        masks = [torch.from_numpy(m.astype(bool)) for m in self.file["masks"][step]]
        return crops("global"), crops("local"), masks


def cosine(step, total, warmup, base, final, start=0.0):
    """trainer/schedule.cc's CosineSchedule."""
    warmup = min(max(warmup, 0), total)
    if step < warmup:
        return start if warmup <= 1 else start + (base - start) * step / (warmup - 1)
    span = max(total - warmup, 1)
    return final + 0.5 * (base - final) * (1 + math.cos(math.pi * min(step - warmup, span - 1) / span))


def linear_warmup(step, warmup, start, end):
    if step >= warmup:
        return end
    return start if warmup <= 1 else start + (end - start) * step / (warmup - 1)


def init_like_vfm(net):
    """vfm's initialisation (the reference's own is plain randn)."""
    def trunc(p):  # N(0, 0.02) redrawn outside 2 std, as nn::TruncNormal
        torch.nn.init.trunc_normal_(p, std=0.02, a=-0.04, b=0.04)
    with torch.no_grad():
        for name, p in net.named_flat().items():
            if name in ("cls_token", "pos_embed"):
                trunc(p)
            elif name == "masked_embed" or (name.endswith(".bias") and "patch_embed" not in name):
                p.zero_()
            elif "norm" in name and name.endswith(".weight"):
                p.fill_(1.0)
            elif name.endswith("last_layer.weight_v"):
                bound = 1 / math.sqrt(p.shape[1])
                p.uniform_(-bound, bound)
            elif name.startswith("patch_embed"):
                fan_in = net.backbone.patch_embed.proj.weight[0].numel()
                p.uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
            elif name.endswith(".weight") and p.dim() == 2:
                trunc(p)
            elif name.endswith("weight_g"):
                p.fill_(1.0)
            else:
                raise ValueError(f"init_like_vfm: no rule for {name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, required=True, help="the run's length (vfm's --budget_images / batch)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flagfile", default="launch/configs/cpu_small.flags")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--views", help="train on this `vfm views` file's crops and masks instead of torchvision's")
    ap.add_argument("--init", help="start from these weights (a vfm checkpoint's student.safetensors: vfm's names)")
    ap.add_argument("--stop_after", type=int, default=0, help="stop after this many steps (0: --steps)")
    a = ap.parse_args()
    f = read_flagfile(a.flagfile)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)

    shards = Shards(a.data)
    dim, arch_depth, arch_heads = ARCH_DIM[f["arch"]]
    c = dict(ref.CFG, dim=dim, depth=f["depth"] or arch_depth, heads=f["heads"] or arch_heads, patch=f["patch"], img=f["global_size"],
             local_img=f["local_size"], in_chans=3, out_dim=f["out_dim"], hidden=f["head_hidden"],
             bottleneck=f["head_bottleneck"], batch=f["batch"], n_global=f["global_crops"],
             n_local=f["local_crops"], student_temp=f["student_temp"], clip=f["clip_grad"], koleo=f["koleo"])
    student, teacher, _, _, _, opt = ref.setup(c, 0.0)  # the networks and AdamW's two parameter groups
    torch.manual_seed(a.seed)
    init_like_vfm(student)
    if a.init:
        with torch.no_grad():
            for name, value in load_file(a.init).items():
                student.named_flat()[name].copy_(value)
    teacher.load_state_dict(student.state_dict())
    views = VfmViews(a.views, shards) if a.views else MultiCrop(f, shards, a.seed)
    last = a.stop_after or a.steps
    if a.views and views.batches() < last:
        sys.exit(f"{a.views} holds {views.batches()} batches, fewer than the {last} steps to train")
    params = student.named_flat()

    B, n = f["batch"], len(shards.images)
    steps_per_epoch = n // B
    warmup = int(f["warmup_epochs"] * steps_per_epoch)
    base_lr = f["lr"] * B / 256
    center, center2 = torch.zeros(1, c["out_dim"]), torch.zeros(1, 1, c["out_dim"])
    log = csv.writer(open(os.path.join(a.out, "curve.csv"), "w", newline=""))
    log.writerow(["step", "loss", "cls_loss", "patch_loss", "lr", "wd", "momentum", "seconds"])
    order, start = None, time.time()
    for step in range(last):
        epoch, pos = divmod(step, steps_per_epoch)
        if pos == 0:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(a.seed * 1000003 + epoch)).tolist()
        globals_, locals_, masks = views.batch(step) if a.views else views.batch(order[pos * B:(pos + 1) * B])
        lr = cosine(step, a.steps, warmup, base_lr, f["min_lr"])
        wd = cosine(step, a.steps, 0, f["weight_decay"], f["weight_decay_end"])
        m = cosine(step, a.steps, 0, f["momentum_teacher"], 1.0)
        tt = dict(c, teacher_temp=linear_warmup(epoch, f["warmup_teacher_temp_epochs"], f["warmup_teacher_temp"],
                                                f["teacher_temp"]),
                  teacher_patch_temp=linear_warmup(epoch, f["warmup_teacher_temp_epochs"],
                                                   f["warmup_teacher_patch_temp"], f["teacher_patch_temp"]))

        opt.zero_grad(set_to_none=True)
        (loss, cls_loss, patch_loss), _, t_out = ref.forward(tt, student, teacher, globals_, locals_, masks,
                                                             center, center2)
        loss.backward()
        if step / steps_per_epoch < f["freeze_last_layer"]:
            for name, p in params.items():
                if "last_layer" in name:
                    p.grad = None
        for p in params.values():
            if p.grad is not None and c["clip"] > 0:
                coef = c["clip"] / (p.grad.norm(2) + 1e-6)
                if coef < 1:
                    p.grad.mul_(coef)
        opt.param_groups[0]["lr"] = opt.param_groups[1]["lr"] = lr
        opt.param_groups[0]["weight_decay"] = wd
        opt.step()
        center, center2 = ref.update_teacher(c, student, teacher, m, t_out, center, center2)
        log.writerow([step + 1, f"{loss.item():.6f}", f"{cls_loss.item():.6f}", f"{patch_loss.item():.6f}",
                      f"{lr:.6g}", f"{wd:.6g}", f"{m:.6g}", f"{time.time() - start:.2f}"])
        if (step + 1) % 10 == 0 or step + 1 == last:
            print(f"step {step + 1}/{last} loss {loss.item():.4f} (cls {cls_loss.item():.4f}, patch "
                  f"{patch_loss.item():.4f}) lr {lr:.3g} {time.time() - start:.1f} s", flush=True)
    backbone = {k: v.detach().contiguous() for k, v in teacher.backbone.named_parameters() if k != "masked_embed"}
    save_file(backbone, os.path.join(a.out, "teacher.safetensors"))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch baseline for vfm's GPU iBOT step (issue 6): one iBOT training step of a timm ViT on one device.

What one timed step does (default: ViT-B/16, batch 64, 2 global 224 crops + 10 local 96 crops, K=8192):
teacher (EMA copy) forward in no_grad on the global crops; student forward on the global crops, whose masked
patches (blockwise or random, ratio U(0.1,0.5), fixed seed) get a learned mask token after patch_embed, and
on the local crops; the iBOT head (3-layer MLP 2048, bottleneck 256, L2-normalise, weight-normalised last
layer) on every global-crop token and on the local crops' [CLS]; the iBOT loss in fp32 (cls cross-entropy
over crop pairs q != v, patch loss on masked tokens, centering, temperatures 0.1 / 0.04 / 0.07); backward;
per-parameter gradient clip 3.0; AdamW (fused where available); EMA update; centre update. Forward and
backward run under torch.autocast(bfloat16) with fp32 master weights; attention is timm's (SDPA on torch 2).
Inputs are random tensors made once: no data loading is timed.

Runs in two modes, eager then torch.compile (a failure is recorded, not fatal), and reports per mode the
median step time over --steps after --warmup steps (CUDA events), img/s = batch / median step time (one
device's batch, each image giving n_global + n_local crops), peak memory (max_memory_allocated), and
MFU = step_flops() / step time / --peak_tflops. Prints one JSON object on the last line of stdout.
CPU smoke run: --device cpu --arch vit_tiny_patch16_224 --batch 2 --n_local 2 --steps 1 --warmup 0 --out_dim 256
"""
import argparse
import copy
import gc
import json
import statistics
import time

import numpy as np
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

# Every key is a flag (--key VALUE). mask: block | random. compile: 1 = also run the torch.compile mode.
# compile_scope: step = the whole forward + loss as one graph, blocks = each ViT block (faster to compile).
# count_flops: 1 = cross-check step_flops() with torch's FlopCounterMode. peak_tflops: H200 SXM dense bf16.
DEFAULTS = dict(arch="vit_base_patch16_224", batch=64, n_global=2, n_local=10, global_size=224, local_size=96,
                out_dim=8192, hidden=2048, bottleneck=256, mask="block", drop_path=0.0, student_temp=0.1,
                teacher_temp=0.04, teacher_patch_temp=0.07, center_momentum=0.9, ema=0.996, lr=1e-4, wd=0.04,
                clip=3.0, steps=20, warmup=5, compile=1, compile_scope="step", compile_mode="default",
                count_flops=1, peak_tflops=989.4, device="cuda", seed=0)


def step_flops(depth, dim, patch, batch, n_global=2, global_size=224, n_local=10, local_size=96, hidden=2048,
               bottleneck=256, out_dim=8192, mlp_ratio=4, in_chans=3):
    """Model FLOPs of one iBOT step: matmuls only, 2*M*N*K per GEMM (norms, softmax, GELU, loss, optimizer,
    EMA ignored); independent of the number of heads. For n images of S = 1 + (size/patch)^2 tokens:
      backbone(n, S) = 2*n*(S-1)*(in_chans*patch^2)*dim                       patch embed
                     + depth * (2*n*S*dim*(4*dim + 2*mlp_ratio*dim)            qkv, proj, fc1, fc2
                            + 4*n*S*S*dim)                                     q@k^T and attn@v over all heads
      head(T)        = 2*T*(dim*hidden + hidden*hidden + hidden*bottleneck + bottleneck*out_dim)
      fwd_global     = backbone(n_global*batch, S_g) + head(n_global*batch*S_g)  (head on every token)
      fwd_local      = backbone(n_local*batch, S_l)  + head(n_local*batch)       (head on [CLS] only)
      step           = 3*(fwd_global + fwd_local)  [student: forward + backward counted as 2x forward]
                     + fwd_global                  [teacher: forward only, global crops]
    Returns a dict of the parts and the total (FLOPs, not TFLOPs)."""
    def backbone(n, size):
        s = 1 + (size // patch) ** 2
        return (2 * n * (s - 1) * in_chans * patch * patch * dim
                + depth * (2 * n * s * dim * (4 + 2 * mlp_ratio) * dim + 4 * n * s * s * dim))

    def head(t):
        return 2 * t * (dim * hidden + hidden * hidden + hidden * bottleneck + bottleneck * out_dim)

    n_g, n_l, s_g = n_global * batch, n_local * batch, 1 + (global_size // patch) ** 2
    fwd_global = backbone(n_g, global_size) + head(n_g * s_g)
    fwd_local = backbone(n_l, local_size) + head(n_l) if n_local else 0
    student, teacher = 3 * (fwd_global + fwd_local), fwd_global
    return dict(fwd_global=fwd_global, fwd_local=fwd_local, student=student, teacher=teacher, total=student + teacher)


class Head(nn.Module):
    """iBOT head: MLP (GELU) -> bottleneck -> L2-normalise -> weight-normalised last layer (g fixed at 1, no bias)."""

    def __init__(self, dim, hidden, bottleneck, out_dim):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, bottleneck))
        self.last_v = nn.Parameter(torch.randn(out_dim, bottleneck) / bottleneck ** 0.5)

    def forward(self, x):
        return F.linear(F.normalize(self.mlp(x), dim=-1), F.normalize(self.last_v, dim=-1))


class Net(nn.Module):
    """timm ViT (dynamic_img_size: pos-embed resampled for other crop sizes) + mask token + iBOT head."""

    def __init__(self, a):
        super().__init__()
        self.vit = timm.create_model(a.arch, pretrained=False, num_classes=0, dynamic_img_size=True,
                                     drop_path_rate=a.drop_path)
        self.mask_token = nn.Parameter(torch.randn(self.vit.embed_dim) * 0.02)
        self.head = Head(self.vit.embed_dim, a.hidden, a.bottleneck, a.out_dim)

    def forward(self, x, mask=None, cls_only=False):
        v = self.vit
        x = v.patch_embed(x)  # (B, h, w, C)
        if mask is not None:
            x = torch.where(mask.view(*x.shape[:3], 1), self.mask_token.to(x.dtype), x)
        x = v.norm(v.blocks(v.norm_pre(v.patch_drop(v._pos_embed(x)))))
        return self.head(x[:, 0] if cls_only else x)


def make_masks(n, grid, kind, rng):
    """n (grid x grid) masks, ratio ~ U(0.1, 0.5) each: 'random' patches, or 'block'wise like iBOT's
    MaskingGenerator (rectangles of >= 4 patches, aspect ratio log-uniform in [0.3, 1/0.3])."""
    out = np.zeros((n, grid, grid), bool)
    for m in out:
        target = int(rng.uniform(0.1, 0.5) * grid * grid)
        if kind == "random":
            m.flat[rng.choice(grid * grid, target, replace=False)] = True
            continue
        for _ in range(10000):
            left = target - int(m.sum())
            if left <= 0:
                break
            area, ar = rng.uniform(min(4, left), left), np.exp(rng.uniform(np.log(0.3), -np.log(0.3)))
            h, w = int(round((area * ar) ** 0.5)), int(round((area / ar) ** 0.5))
            if 1 <= h < grid and 1 <= w < grid:
                t, l = rng.integers(0, grid - h + 1), rng.integers(0, grid - w + 1)
                if 0 < h * w - m[t:t + h, l:l + w].sum() <= left:
                    m[t:t + h, l:l + w] = True
    return out.reshape(n, -1)


def ibot_loss(a, s_cls, s_patch, t_cls, t_patch, masks, center, center2):
    """iBOT's loss (as tests/parity/vit_ibot_reference.py): s_cls (n_crops*B, K) global crops first,
    s_patch/t_patch (n_global*B, N, K), t_cls (n_global*B, K), masks (n_global*B, N) bool. fp32."""
    ng, nc = a.n_global, a.n_global + a.n_local
    log_s = F.log_softmax(s_cls / a.student_temp, dim=-1).chunk(nc)
    t = F.softmax((t_cls - center) / a.teacher_temp, dim=-1).chunk(ng)
    cls = sum((-t[q] * log_s[v]).sum(-1).mean() for q in range(ng) for v in range(nc) if v != q) / (ng * (nc - 1))
    tp = F.softmax((t_patch - center2) / a.teacher_patch_temp, dim=-1)
    lp = (-tp * F.log_softmax(s_patch / a.student_temp, dim=-1)).sum(-1)
    m = masks.float()
    patch = ((lp * m).sum(-1) / m.sum(-1).clamp(min=1.0)).mean()  # = mean over crops of per-crop means
    return cls + patch


def run_mode(a, dev, compiled):
    torch.manual_seed(0)
    student = Net(a).to(dev)
    teacher = copy.deepcopy(student).requires_grad_(False)
    sp, tp = list(student.parameters()), list(teacher.parameters())
    B, patch = a.batch, student.vit.patch_embed.patch_size[0]
    g = torch.randn(a.n_global * B, 3, a.global_size, a.global_size, device=dev)
    loc = torch.randn(max(a.n_local, 1) * B, 3, a.local_size, a.local_size, device=dev)
    masks_np = make_masks(a.n_global * B, a.global_size // patch, a.mask, np.random.default_rng(a.seed))
    masks = torch.from_numpy(masks_np).to(dev)
    center, center2 = torch.zeros(1, a.out_dim, device=dev), torch.zeros(1, 1, a.out_dim, device=dev)
    plain = [p for n, p in student.named_parameters() if n.endswith(".bias") or p.dim() == 1]
    decayed = [p for n, p in student.named_parameters() if not (n.endswith(".bias") or p.dim() == 1)]
    groups = [{"params": decayed, "weight_decay": a.wd}, {"params": plain, "weight_decay": 0.0}]
    try:
        opt, opt_impl = torch.optim.AdamW(groups, lr=a.lr, fused=True), "fused"
    except (TypeError, RuntimeError):
        opt, opt_impl = torch.optim.AdamW(groups, lr=a.lr, foreach=True), "foreach"

    def fwd_loss(g, loc, masks, center, center2):
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            with torch.no_grad():
                t = teacher(g)
            s = student(g, masks)
            s_cls = torch.cat([s[:, 0], student(loc, cls_only=True)]) if a.n_local else s[:, 0]
        t, s = t.float(), s.float()
        loss = ibot_loss(a, s_cls.float(), s[:, 1:], t[:, 0], t[:, 1:], masks, center, center2)
        return loss, t[:, 0].mean(0, keepdim=True), t[:, 1:].mean(1).mean(0, keepdim=True)

    if compiled and a.compile_scope == "blocks":
        for blk in list(student.vit.blocks) + list(teacher.vit.blocks):
            blk.forward = torch.compile(blk.forward, dynamic=False, mode=a.compile_mode)
    elif compiled:
        fwd_loss = torch.compile(fwd_loss, dynamic=False, mode=a.compile_mode)

    def step():
        opt.zero_grad(set_to_none=True)
        loss, c1, c2 = fwd_loss(g, loc, masks, center, center2)
        loss.backward()
        grads = [p.grad for p in sp if p.grad is not None]
        coef = torch.stack(torch._foreach_norm(grads)).add_(1e-6).reciprocal_().mul_(a.clip).clamp_(max=1.0)
        torch._foreach_mul_(grads, list(coef.unbind()))  # per-parameter clip, no host sync
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(tp, a.ema)
            torch._foreach_add_(tp, sp, alpha=1.0 - a.ema)
            center.mul_(a.center_momentum).add_(c1, alpha=1.0 - a.center_momentum)
            center2.mul_(a.center_momentum).add_(c2, alpha=1.0 - a.center_momentum)
        return loss

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    loss = step()
    sync()
    first_s = time.perf_counter() - t0  # includes compilation
    for _ in range(a.warmup):
        step()
    sync()
    times = []
    for _ in range(a.steps):
        if dev.type == "cuda":
            ev = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            ev[0].record()
            loss = step()
            ev[1].record()
            times.append(ev)
        else:
            t0 = time.perf_counter()
            loss = step()
            times.append((time.perf_counter() - t0) * 1e3)
    sync()
    times = [e[0].elapsed_time(e[1]) if isinstance(e, tuple) else e for e in times]
    ms = statistics.median(times)
    flops_parts = step_flops(len(student.vit.blocks), student.vit.embed_dim, patch, B, a.n_global, a.global_size,
                             a.n_local, a.local_size, a.hidden, a.bottleneck, a.out_dim)
    flops = flops_parts["total"]
    res = dict(step_ms=ms, step_ms_mean=statistics.mean(times), step_ms_min=min(times), img_per_s=B / ms * 1e3,
               tflop_per_step=flops / 1e12, tflops=flops / ms / 1e9, mfu=flops / ms / 1e9 / a.peak_tflops,
               first_step_s=first_s, loss=float(loss.detach()), optimizer=opt_impl, mask_ratio=float(masks_np.mean()),
               peak_mem_gib=torch.cuda.max_memory_allocated() / 2 ** 30 if dev.type == "cuda" else None,
               model=dict(params_student=sum(p.numel() for p in sp), flops=flops_parts,
                          fused_attn=bool(getattr(student.vit.blocks[0].attn, "fused_attn", False))))
    if not compiled and a.count_flops:
        res["flops_torch_counter"] = count_flops(step)
    return res


def count_flops(step):
    """Cross-check: FLOPs of one eager step as torch.utils.flop_counter counts them (torch >= 2.1)."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
        with FlopCounterMode(display=False) as fc:
            step()
        return fc.get_total_flops()
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"[:300]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for k, v in DEFAULTS.items():
        p.add_argument("--" + k, type=type(v), default=v)
    a = p.parse_args()
    assert a.n_global >= 1 and a.n_global + a.n_local >= 2, "the cls loss needs two crops or more"
    assert a.mask in ("block", "random") and a.compile_scope in ("step", "blocks"), "see DEFAULTS"
    dev = torch.device(a.device)
    out = {"torch_version": torch.__version__, "timm_version": timm.__version__}
    if dev.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(dev)
    model = {}
    for mode in ("eager", "compile"):
        if mode == "compile" and not (a.compile and hasattr(torch, "compile")):
            out[mode] = {"error": "skipped (--compile 0)" if not a.compile else
                         f"torch.compile unavailable in torch {torch.__version__}"}
            continue
        try:
            out[mode] = run_mode(a, dev, compiled=mode == "compile")
            model = out[mode].pop("model")
        except Exception as e:  # noqa: BLE001  (record, carry on)
            out[mode] = {"error": f"{type(e).__name__}: {e}"[:2000]}
        gc.collect()
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    out["config"] = dict(vars(a), **model)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

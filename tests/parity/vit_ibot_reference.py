#!/usr/bin/env python3
"""PyTorch reference for the ViT + iBOT parity test.

Builds a ViT-S/16-width model (fewer blocks) with the iBOT head in plain PyTorch, mirroring timm's ViT
and iBOT's code (masked_embed, interpolate_pos_encoding, iBOTHead, iBOTLoss, per-parameter clipping,
AdamW with iBOT's parameter groups, EMA teacher), and writes, as safetensors in OUT_DIR:
  inputs.safetensors    crops, masks, initial centres; the run's configuration in the metadata
  init.safetensors      initial student weights (the teacher starts as a copy)
  expected.safetensors  first step: losses, head outputs, every student gradient;
                        after five steps: student and teacher weights, centres
Usage: vit_ibot_reference.py OUT_DIR. Exits non-zero (loudly) when torch or safetensors is missing.
"""
import json
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

CFG = dict(dim=384, depth=2, heads=6, patch=16, img=64, local_img=32, in_chans=3, out_dim=1024,
           hidden=2048, bottleneck=256, batch=2, n_global=2, n_local=2, student_temp=0.1,
           teacher_temp=0.04, teacher_patch_temp=0.07, center_momentum=0.9, clip=3.0, steps=5,
           lr=[1e-4, 2e-4, 3e-4, 2e-4, 1e-4], wd=[0.04, 0.05, 0.06, 0.07, 0.08],
           ema=[0.99, 0.992, 0.994, 0.996, 0.998], freeze_last_layer_steps=1, ln_eps=1e-6,
           koleo=0.1)  # DINOv2's KoLeo weight: the parity covers vfm's --koleo term as well


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * (C // self.heads) ** -0.5).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.proj = nn.Conv2d(c["in_chans"], c["dim"], c["patch"], c["patch"])


class ViT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        g = c["img"] // c["patch"]
        self.patch_embed = PatchEmbed(c)
        self.cls_token = nn.Parameter(torch.randn(1, 1, c["dim"]) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + g * g, c["dim"]) * 0.02)
        self.masked_embed = nn.Parameter(torch.randn(c["dim"]) * 0.02)
        self.blocks = nn.ModuleList([Block(c["dim"], c["heads"], c["ln_eps"]) for _ in range(c["depth"])])
        self.norm = nn.LayerNorm(c["dim"], eps=c["ln_eps"])

    def pos_encoding(self, gh, gw):
        g = self.c["img"] // self.c["patch"]
        if gh == g and gw == g:
            return self.pos_embed
        grid = self.pos_embed[:, 1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
        return torch.cat([self.pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)], dim=1)

    def forward(self, x, mask=None):
        B, _, H, W = x.shape
        p = self.c["patch"]
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        if mask is not None:
            x = torch.where(mask.unsqueeze(-1), self.masked_embed.to(x.dtype), x)
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1)
        x = x + self.pos_encoding(H // p, W // p)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


class LastLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(c["out_dim"]), requires_grad=False)  # norm_last_layer
        self.weight_v = nn.Parameter(torch.randn(c["out_dim"], c["bottleneck"]) / math.sqrt(c["bottleneck"]))

    def forward(self, x):
        return x @ (self.weight_g[:, None] * self.weight_v / self.weight_v.norm(dim=1, keepdim=True)).t()


class Head(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(c["dim"], c["hidden"]), nn.GELU(), nn.Linear(c["hidden"], c["hidden"]),
                                 nn.GELU(), nn.Linear(c["hidden"], c["bottleneck"]))
        self.last_layer = LastLayer(c)

    def forward(self, x):
        return self.last_layer(F.normalize(self.mlp(x), dim=-1, p=2))


class Network(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.backbone = ViT(c)
        self.head = Head(c)

    def named_flat(self):
        """Parameters under vfm's names: the backbone's without prefix, the head's under 'head.'."""
        out = {}
        for n, p in self.backbone.named_parameters():
            out[n] = p
        for n, p in self.head.named_parameters():
            out["head." + n] = p
        return out


def ibot_loss(c, student_cls, student_patch, teacher_cls, teacher_patch, masks, center, center2):
    """iBOT's iBOTLoss.forward (shared head, no local-crop patch term)."""
    ncrops, ng = c["n_global"] + c["n_local"], c["n_global"]
    s_cls = (student_cls / c["student_temp"]).chunk(ncrops)
    s_patch = (student_patch / c["student_temp"]).chunk(ng)
    t_cls = F.softmax((teacher_cls - center) / c["teacher_temp"], dim=-1).detach().chunk(ng)
    t_patch = F.softmax((teacher_patch - center2) / c["teacher_patch_temp"], dim=-1).detach().chunk(ng)
    total1, n1, total2, n2 = 0, 0, 0, 0
    for q in range(ng):
        for v in range(ncrops):
            if v == q:
                loss2 = torch.sum(-t_patch[q] * F.log_softmax(s_patch[v], dim=-1), dim=-1)
                mask = masks[v].flatten(-2, -1) if masks[v].dim() > 2 else masks[v]
                loss2 = torch.sum(loss2 * mask.float(), dim=-1) / mask.sum(dim=-1).clamp(min=1.0)
                total2 += loss2.mean()
                n2 += 1
            else:
                loss1 = torch.sum(-t_cls[q] * F.log_softmax(s_cls[v], dim=-1), dim=-1)
                total1 += loss1.mean()
                n1 += 1
    total1, total2 = total1 / n1, total2 / n2
    return total1 + total2, total1, total2


def koleo_loss(x, eps=1e-8):
    """DINOv2's KoLeoLoss: -mean log of each normalised row's distance to its nearest other row."""
    x = F.normalize(x, eps=eps, dim=-1)
    with torch.no_grad():
        dots = x @ x.t()
        dots.fill_diagonal_(-1)
        nearest = dots.argmax(dim=1)
    return -torch.log(F.pairwise_distance(x, x[nearest], eps=eps) + eps).mean()


def forward(c, student, teacher, globals_, locals_, masks, center, center2):
    g = torch.cat(globals_)
    with torch.no_grad():
        t_out = teacher.head(teacher.backbone(g))
    s_tokens = student.backbone(g, torch.cat(masks))
    s_out = student.head(s_tokens)
    student_cls = s_out[:, 0]
    if locals_:  # a recipe without local crops (the main job's) has none
        student_cls = torch.cat([student_cls, student.head(student.backbone(torch.cat(locals_))[:, 0])])
    loss = ibot_loss(c, student_cls, s_out[:, 1:], t_out[:, 0], t_out[:, 1:], masks, center, center2)
    if c.get("koleo", 0) > 0:  # vfm's --koleo: on the student's [CLS] tokens, per global crop
        koleo = sum(koleo_loss(x) for x in s_tokens[:, 0].chunk(len(globals_)))
        loss = (loss[0] + c["koleo"] * koleo, *loss[1:])
    return loss, student_cls, t_out


def update_teacher(c, student, teacher, m, t_out, center, center2):
    """After the optimizer step: the teacher's EMA (momentum m) and the two centres' update from the teacher's
    outputs of the step; returns the new centres."""
    with torch.no_grad():
        for ps, pt in zip(student.parameters(), teacher.parameters()):
            pt.mul_(m).add_((1 - m) * ps.detach())
        cls_c = t_out[:, 0].sum(0, keepdim=True) / len(t_out)
        patch_c = t_out[:, 1:].mean(1).sum(0, keepdim=True) / len(t_out)
        cm = c["center_momentum"]
        return center * cm + cls_c * (1 - cm), center2 * cm + patch_c * (1 - cm)


def setup(c, mask_ratio):
    """Student, teacher (a frozen copy), random crops and masks, and AdamW with iBOT's parameter groups:
    no weight decay on biases and 1-D parameters."""
    torch.manual_seed(0)
    student, teacher = Network(c), Network(c)
    teacher.load_state_dict(student.state_dict())
    for p in teacher.parameters():
        p.requires_grad_(False)
    B, g = c["batch"], c["img"] // c["patch"]
    globals_ = [torch.randn(B, 3, c["img"], c["img"]) for _ in range(c["n_global"])]
    locals_ = [torch.randn(B, 3, c["local_img"], c["local_img"]) for _ in range(c["n_local"])]
    masks = [torch.rand(B, g * g) < mask_ratio for _ in range(c["n_global"])]
    params = student.named_flat()
    decayed = [p for n, p in params.items() if p.requires_grad and not (n.endswith(".bias") or p.dim() == 1)]
    plain = [p for n, p in params.items() if p.requires_grad and (n.endswith(".bias") or p.dim() == 1)]
    opt = torch.optim.AdamW([{"params": decayed}, {"params": plain, "weight_decay": 0.0}])
    return student, teacher, globals_, locals_, masks, opt


def main():
    out_dir = sys.argv[1]
    c = CFG
    student, teacher, globals_, locals_, masks, opt = setup(c, 0.4)
    masks[1][1] = False  # an image without masked patches (the clamp(min=1) path)
    center = torch.randn(1, c["out_dim"]) * 0.1
    center2 = torch.randn(1, 1, c["out_dim"]) * 0.1

    inputs = {f"global{i}": x for i, x in enumerate(globals_)}
    inputs.update({f"local{i}": x for i, x in enumerate(locals_)})
    inputs.update({f"mask{i}": m.to(torch.uint8) for i, m in enumerate(masks)})
    inputs.update(center=center, center2=center2)
    save_file(inputs, f"{out_dir}/inputs.safetensors", metadata={"config": json.dumps(c)})
    save_file({k: v.detach().clone() for k, v in student.named_flat().items()}, f"{out_dir}/init.safetensors")

    params = student.named_flat()
    expected = {}
    for step in range(c["steps"]):
        opt.zero_grad(set_to_none=True)
        (loss, cls_loss, patch_loss), student_cls, t_out = forward(c, student, teacher, globals_, locals_, masks,
                                                                   center, center2)
        loss.backward()
        if step == 0:
            expected.update(loss=loss.detach().reshape(1), cls_loss=cls_loss.detach().reshape(1),
                            patch_loss=patch_loss.detach().reshape(1), student_cls=student_cls.detach(),
                            teacher_out=t_out.detach())
            expected.update({f"grad.{n}": p.grad.clone() for n, p in params.items() if p.grad is not None})
        for p in params.values():  # per-parameter clipping (DINO's clip_gradients)
            if p.grad is not None:
                coef = c["clip"] / (p.grad.norm(2) + 1e-6)
                if coef < 1:
                    p.grad.mul_(coef)
        if step < c["freeze_last_layer_steps"]:
            for n, p in params.items():
                if "last_layer" in n:
                    p.grad = None
        opt.param_groups[0]["lr"] = opt.param_groups[1]["lr"] = c["lr"][step]
        opt.param_groups[0]["weight_decay"] = c["wd"][step]
        opt.step()
        center, center2 = update_teacher(c, student, teacher, c["ema"][step], t_out, center, center2)
    expected.update({f"final.student.{n}": p.detach().clone() for n, p in student.named_flat().items()})
    expected.update({f"final.teacher.{n}": p.detach().clone() for n, p in teacher.named_flat().items()})
    expected.update(final_center=center, final_center2=center2)
    save_file({k: v.contiguous() for k, v in expected.items()}, f"{out_dir}/expected.safetensors")


if __name__ == "__main__":
    main()

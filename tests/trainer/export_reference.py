#!/usr/bin/env python3
"""Loads a `vfm export` file into timm's VisionTransformer (strict) and into the plain-PyTorch ViT of the
parity test, runs the images vfm ran, and compares with vfm's features (and head outputs).
Usage: export_reference.py EXPORT.safetensors VFM_OUTPUTS.safetensors. Non-zero exit on any mismatch."""
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
import vit_ibot_reference as ref  # noqa: E402
from timm.models.vision_transformer import VisionTransformer  # noqa: E402

TOL = 1e-4


def rel(a, b):
    return float((a - b).norm() / b.norm())


export_path, outputs_path = sys.argv[1], sys.argv[2]
with safe_open(export_path, "pt") as f:
    meta = f.metadata()
weights = load_file(export_path)
outputs = load_file(outputs_path)
images = outputs["images"]
backbone = {k: v for k, v in weights.items() if not k.startswith("head.")}

timm_model = VisionTransformer(**json.loads(meta["timm_kwargs"])).eval()
timm_model.load_state_dict(backbone, strict=True)
with torch.no_grad():
    timm_features = timm_model(images)
errors = {"timm features": rel(timm_features, outputs["features"])}

m = json.loads(meta["vfm_model"])
c = dict(dim=m["dim"], depth=m["depth"], heads=m["heads"], patch=m["patch"], img=m["img_size"],
         in_chans=m["in_chans"], out_dim=m["out_dim"], hidden=m["head_hidden"], bottleneck=m["head_bottleneck"],
         ln_eps=m["ln_eps"])
plain = ref.Network(c).eval()
missing, unexpected = plain.backbone.load_state_dict(backbone, strict=False)
assert missing == ["masked_embed"] and not unexpected, (missing, unexpected)
head = {k[len("head."):]: v for k, v in weights.items() if k.startswith("head.")}
head["last_layer.weight_g"] = head["last_layer.weight_g"].reshape(-1)  # [K, 1] in torch's weight_norm
plain.head.load_state_dict(head, strict=True)
with torch.no_grad():
    tokens = plain.backbone(images)
    errors["plain PyTorch features"] = rel(tokens[:, 0], outputs["features"])
    errors["plain PyTorch head"] = rel(plain.head(tokens), outputs["head"])
for k, e in errors.items():
    print(f"export: {k}: relative error {e:.3g}")
sys.exit(0 if all(e <= TOL for e in errors.values()) else 1)

#!/usr/bin/python3
"""vfm attn's pictures, from the arrays `vfm attn` wrote (trainer/cli/attn.cc).

Usage: attn.py DIR/attn.safetensors   (writes DIR/NAME_attn.png and DIR/NAME_pca.png for each image)

NAME_attn.png: the image, then the last block's [CLS] attention of each head over it, then their mean
(DINO, Caron et al. 2021, fig. 1/3). Each map is scaled to its own maximum and upsampled bilinearly.
NAME_pca.png: the image beside the first three principal components of its patch features as RGB
(DINOv2, Oquab et al. 2023, fig. 1), each component min-max scaled; the PCA is of this image's patches
alone, without DINOv2's foreground threshold.
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
from safetensors import safe_open


def attention_figure(image, attention, path):
    heads = attention.shape[0]
    maps = list(attention) + [attention.mean(axis=0)]
    titles = [f"head {h}" for h in range(heads)] + ["mean"]
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(2.2 * (len(maps) + 1), 2.4))
    axes[0].imshow(image)
    axes[0].set_title("image", fontsize=8)
    extent = (-0.5, image.shape[1] - 0.5, image.shape[0] - 0.5, -0.5)  # imshow's own, pixel centres on integers
    for ax, attention_map, title in zip(axes[1:], maps, titles):
        ax.imshow(image)
        ax.imshow(attention_map / max(attention_map.max(), 1e-12), cmap="inferno", alpha=0.6,
                  interpolation="bilinear", extent=extent)
        ax.set_title(title, fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.suptitle("[CLS] attention, last block", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def pca_rgb(features, grid):
    centred = features - features.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[:3].T  # [N, 3] (fewer when the features have fewer dimensions)
    projected = np.pad(projected, ((0, 0), (0, 3 - projected.shape[1])))
    low, high = projected.min(axis=0), projected.max(axis=0)
    return ((projected - low) / np.maximum(high - low, 1e-12)).reshape(grid, grid, 3)


def pca_figure(image, features, grid, path):
    fig, axes = plt.subplots(1, 2, figsize=(4.8, 2.6))
    axes[0].imshow(image)
    axes[0].set_title("image", fontsize=8)
    axes[1].imshow(pca_rgb(features, grid), interpolation="nearest")
    axes[1].set_title("patch features: PCA 1-3 as RGB", fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    if len(sys.argv) != 2:
        print("usage: attn.py DIR/attn.safetensors", file=sys.stderr)
        sys.exit(2)
    arrays_path = sys.argv[1]
    out = os.path.dirname(arrays_path)
    with safe_open(arrays_path, "numpy") as f:
        for name in f.metadata()["names"].split(","):
            image, attention = f.get_tensor(f"image.{name}"), f.get_tensor(f"cls_attention.{name}")
            attention_path, pca_path = os.path.join(out, f"{name}_attn.png"), os.path.join(out, f"{name}_pca.png")
            attention_figure(image, attention, attention_path)
            pca_figure(image, f.get_tensor(f"patch_features.{name}"), attention.shape[1], pca_path)
            print(attention_path)
            print(pca_path)

if __name__ == "__main__":
    main()

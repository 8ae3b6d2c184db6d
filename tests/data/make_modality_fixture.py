#!/usr/bin/python3
"""A small multi-modality image tree from real images in Debian packages, for the end-to-end tests.

Usage: make_modality_fixture.py OUT [PER_CLASS]

Writes OUT/train/<modality>/<class>/*.{jpg,png,tif} (PER_CLASS images per class, default 12) and
OUT/test/... (half as many), the layout `vfm shard --input --folder_labels` reads, two classes per modality:
  fundus    RGB JPEG, 40x40 crops of skimage's retina.jpg: upper half (fundus_upper) / lower (fundus_lower)
  ffa       16-bit gray (v * 257: decodes back to v), 32x32 crops of skimage's microaneurysms.png (a
            fluorescein angiogram): left half (ffa_left) as PNG / right half (ffa_right) as LZW TIFF
  external  8-bit gray PNG, Fashion-MNIST test images (a stand-in modality): T-shirts / trousers
Crops are at seeded random positions, half of them flipped left-right: the tree is the same on every run.
"""
import gzip
import os
import sys

import numpy as np
from PIL import Image

SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
FASHION = "/usr/share/datasets/fashion-mnist"


def crops(image, region, side, count, rng):
    """`count` side x side crops inside `region` (top, left, bottom, right) of `image`, half flipped."""
    top, left, bottom, right = region
    out = []
    for i in range(count):
        y, x = rng.integers(top, bottom - side), rng.integers(left, right - side)
        crop = image[y:y + side, x:x + side]
        out.append(crop[:, ::-1] if i % 2 else crop)
    return out


def fashion(label, count, skip):
    raw = np.frombuffer(gzip.open(f"{FASHION}/t10k-images-idx3-ubyte.gz").read()[16:], np.uint8).reshape(-1, 28, 28)
    labels = np.frombuffer(gzip.open(f"{FASHION}/t10k-labels-idx1-ubyte.gz").read()[8:], np.uint8)
    return list(raw[labels == label][skip:skip + count])


def save(images, folder, kind):
    os.makedirs(folder, exist_ok=True)
    for i, im in enumerate(images):
        path = os.path.join(folder, f"{i:03d}.{ {'jpeg': 'jpg', 'tiff16': 'tif'}.get(kind, 'png') }")
        if kind == "jpeg":
            Image.fromarray(np.ascontiguousarray(im)).save(path, quality=92)
        elif kind == "png16":
            Image.fromarray(np.ascontiguousarray(im).astype(np.uint16) * 257).save(path)  # mode I;16
        elif kind == "tiff16":
            Image.fromarray(np.ascontiguousarray(im).astype(np.uint16) * 257).save(path, compression="tiff_lzw")
        else:
            Image.fromarray(np.ascontiguousarray(im)).save(path)


def main():
    out, per_class = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 12
    retina = np.asarray(Image.open(f"{SKIMAGE}/retina.jpg").convert("RGB").resize((160, 160), Image.BILINEAR))
    angio = np.asarray(Image.open(f"{SKIMAGE}/microaneurysms.png").convert("L"))  # 102 x 102
    h, w = angio.shape
    for split, count, seed in (("train", per_class, 1), ("test", per_class // 2, 2)):
        rng = np.random.default_rng(seed)
        root = os.path.join(out, split)
        save(crops(retina, (20, 20, 80, 140), 40, count, rng), f"{root}/fundus/fundus_upper", "jpeg")
        save(crops(retina, (80, 20, 140, 140), 40, count, rng), f"{root}/fundus/fundus_lower", "jpeg")
        save(crops(angio, (0, 0, h, w // 2), 32, count, rng), f"{root}/ffa/ffa_left", "png16")
        save(crops(angio, (0, w // 2, h, w), 32, count, rng), f"{root}/ffa/ffa_right", "tiff16")
        skip = 0 if split == "train" else per_class
        save(fashion(0, count, skip), f"{root}/external/tshirt", "png8")
        save(fashion(1, count, skip), f"{root}/external/trouser", "png8")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# vfm views on the tiny dataset: the file holds the training stream's first batches in the documented shapes
# (gray images as three equal planes, masks within the mask flags), the same for any thread count and seed
# by seed different; bad flags and too many batches are refused, and a refused run leaves an earlier file.
source "$(dirname "$0")/common.sh"
VIEWS=("${TINY[@]}" --batches=3 --mask_prob_none=0 --mask_ratio_min=0.2 --mask_ratio_max=0.4)
"$VFM" views "${VIEWS[@]}" --out="$WORK/a.h5" --data_threads=1
"$VFM" views "${VIEWS[@]}" --out="$WORK/b.h5" --data_threads=2
"$VFM" views "${VIEWS[@]}" --out="$WORK/c.h5" --seed=1
/usr/bin/python3 - "$WORK" <<'PY'
import sys
import h5py
import numpy as np
w = sys.argv[1]
a, b, c = (h5py.File(f"{w}/{n}.h5", "r") for n in "abc")
# TINY: batch 16, 2 global crops of 16 px, 2 local crops of 8 px, patch 4 (16 patches per global crop).
shapes = {"global": (3, 2, 16, 3, 16, 16), "local": (3, 2, 16, 3, 8, 8), "masks": (3, 2, 16, 16), "ids": (3, 16)}
for name, shape in shapes.items():
    assert a[name].shape == shape, (name, a[name].shape)
    assert (a[name][:] == b[name][:]).all(), f"{name} differs with the thread count"
assert a["ids"].dtype == np.uint64 and a["global"].dtype == np.uint8
ids = a["ids"][:].reshape(-1)
assert len(set(ids)) == 48 and ids.max() < 256, "the first batches of an epoch hold distinct samples"
g = a["global"][:]
assert (g[:, :, :, 0] == g[:, :, :, 2]).all(), "a gray sample's three planes are equal"
assert g.std() > 10, "the views hold pixels"
# Masks: block masks of at least 0.2 of the 16 patches each (mask_prob_none 0); the ratio's upper end is
# approached, not exceeded by more than a block's rounding.
shares = a["masks"][:].reshape(-1, 16).mean(axis=1)
assert shares.min() >= 0.125 and shares.max() <= 0.5, (shares.min(), shares.max())
assert not (a["ids"][:] == c["ids"][:]).all() and not (a["global"][:] == c["global"][:]).all(), "seed 1 = seed 0"
print("views: shapes, determinism, gray planes and masks ok")
PY
cp "$WORK/a.h5" "$WORK/kept.h5"
refused 2 "--out .* is required" "$VFM" views "${VIEWS[@]}"
refused 2 "--batches must be in" "$VFM" views "${VIEWS[@]}" --batches=0 --out="$WORK/kept.h5"
refused 2 "--global_scale_min must be" "$VFM" views "${VIEWS[@]}" --global_scale_min=2 --out="$WORK/kept.h5"
refused 2 "--heads 5 does not divide the width 192 of --arch vit_tiny" "$VFM" views "${VIEWS[@]}" --heads=5 --out="$WORK/kept.h5"
refused 1 "--batches=17 is more than the 16 batches" "$VFM" views "${VIEWS[@]}" --batches=17 --out="$WORK/kept.h5"
cmp "$WORK/a.h5" "$WORK/kept.h5"
# --jitter_p and --flip_p: with the whole image as the crop and no blur or solarisation, a gray sample's two global
# crops are the same picture (or its mirror) without colour jitter, and differ with it; without flips they are
# the same picture, and with flips always its mirror.
SAME=("${TINY[@]}" --batches=2 --global_scale_min=1 --global_blur_p=0 --global_solarize_p=0)
"$VFM" views "${SAME[@]}" --jitter_p=0 --out="$WORK/still.h5"
"$VFM" views "${SAME[@]}" --jitter_p=1 --out="$WORK/jittered.h5"
"$VFM" views "${SAME[@]}" --jitter_p=0 --flip_p=0 --out="$WORK/unflipped.h5"
"$VFM" views "${SAME[@]}" --jitter_p=0 --flip_p=1 --out="$WORK/flipped.h5"
/usr/bin/python3 - "$WORK" <<'PY'
import sys
import h5py
import numpy as np
w = sys.argv[1]
def crops(name):  # the gray samples' two global crops, [sample, crop, C, H, W]
    g = h5py.File(f"{w}/{name}.h5", "r")["global"][:].astype(int)  # [batch, crop, sample, C, H, W]
    g = g.transpose(0, 2, 1, 3, 4, 5).reshape(-1, 2, 3, 16, 16)
    gray = (g[:, :, 0] == g[:, :, 2]).all(axis=(1, 2, 3))
    assert gray.sum() >= 8, gray.sum()
    return g[gray]
def same(a, b):
    return (a == b).all(axis=(1, 2, 3))
def same_picture_share(g):
    return (same(g[:, 0], g[:, 1]) | same(g[:, 0], g[:, 1, ..., ::-1])).mean()
still, jittered = same_picture_share(crops("still")), same_picture_share(crops("jittered"))
assert still == 1 and jittered < 0.2, (still, jittered)
unflipped, flipped = crops("unflipped"), crops("flipped")
assert same(unflipped[:, 0], unflipped[:, 1]).all(), "--flip_p=0 flipped a crop"
assert same(flipped.reshape(-1, 3, 16, 16), unflipped.reshape(-1, 3, 16, 16)[..., ::-1]).all(), "--flip_p=1 missed one"
print(f"views: --jitter_p=0 keeps both crops the same picture ({still:.0%}), --jitter_p=1 changes them "
      f"({1 - jittered:.0%} differ); --flip_p=0 and 1 never and always mirror")
PY
echo "views: ok"

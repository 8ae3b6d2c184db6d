#!/usr/bin/env bash
# vfm attn on the tiny checkpoint: a grey PNG, an RGB PNG that is not square and a JPEG give the arrays
# (shapes, the [CLS] row's patch shares) and the two pictures per image, at the figures' sizes; bad input is
# refused. The attention probabilities themselves are checked in tests/ops/vit_attention_maps_test.cc.
source "$(dirname "$0")/common.sh"
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/run" --max_steps=2 > "$WORK/pretrain.log"
/usr/bin/python3 - "$WORK" <<'PY'
import sys
import numpy as np
from PIL import Image
w = sys.argv[1]
rng = np.random.default_rng(0)
Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), "L").save(f"{w}/grey.png")
Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), "RGB").save(f"{w}/wide.png")
Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "RGB").save(f"{w}/photo.jpg")
PY
"$VFM" attn --checkpoint="$WORK/run" --images="$WORK/grey.png,$WORK/wide.png,$WORK/photo.jpg" --out="$WORK/maps" \
  --eval_size=16 --eval_resize=20 > "$WORK/attn.log"
cat "$WORK/attn.log"
/usr/bin/python3 - "$WORK" <<'PY'
import struct, sys
from safetensors.numpy import load_file
w = sys.argv[1]
arrays = load_file(f"{w}/maps/attn.safetensors")
for name in ("grey", "wide", "photo"):
    image, attention, features = (arrays[f"{k}.{name}"] for k in ("image", "cls_attention", "patch_features"))
    assert image.shape == (16, 16, 3) and 0 <= image.min() and image.max() <= 1, (name, image.shape)
    # vit_tiny: 3 heads; 16 px / patch 4 = a 4 x 4 grid of 192-wide patch tokens.
    assert attention.shape == (3, 4, 4) and features.shape == (16, 192), (name, attention.shape, features.shape)
    # [CLS]'s row without its own column: positive shares that sum to less than 1.
    sums = attention.reshape(3, -1).sum(axis=1)
    assert (attention > 0).all() and (sums < 1).all() and (sums > 0.5).all(), (name, sums)
    for kind, size in (("attn", (1100, 240)), ("pca", (480, 260))):  # figsize * 100 dpi
        data = open(f"{w}/maps/{name}_{kind}.png", "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", (name, kind)
        assert struct.unpack(">II", data[16:24]) == size, (name, kind, struct.unpack(">II", data[16:24]))
assert (arrays["image.grey"][..., 0] == arrays["image.grey"][..., 2]).all()  # grey stays grey
print("attn: arrays and pictures ok")
PY
refused 1 "cannot read .*missing.png" "$VFM" attn --checkpoint="$WORK/run" --images="$WORK/missing.png" \
  --out="$WORK/x" --eval_size=16 --eval_resize=16
refused 2 "two files are named grey" "$VFM" attn --checkpoint="$WORK/run" --images="$WORK/grey.png,$WORK/maps/../grey.png" \
  --out="$WORK/x" --eval_size=16 --eval_resize=16
refused 2 "not a multiple of the patch size" "$VFM" attn --checkpoint="$WORK/run" --images="$WORK/grey.png" \
  --out="$WORK/x" --eval_size=18 --eval_resize=18
# --heads replaces the architecture's 3: the checkpoint's model and its attention maps have 6.
"$VFM" pretrain "${TINY[@]}" --heads=6 --run_dir="$WORK/run6" --max_steps=1 > "$WORK/pretrain6.log"
"$VFM" attn --checkpoint="$WORK/run6" --images="$WORK/grey.png" --out="$WORK/maps6" --eval_size=16 --eval_resize=16 \
  > "$WORK/attn6.log"
grep -q "last block (6 heads)" "$WORK/attn6.log"
/usr/bin/python3 -c "
import sys
from safetensors.numpy import load_file
shape = load_file(sys.argv[1])['cls_attention.grey'].shape
assert shape == (6, 4, 4), shape" "$WORK/maps6/attn.safetensors"
echo "attn: ok"

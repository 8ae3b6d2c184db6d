#!/usr/bin/env bash
# --koleo (DINOv2's KoLeo term, trainer/koleo_loss.h) end to end: every metrics line has koleo_loss and a
# loss of cls + patch + weight * koleo, the progress line shows it, a run resumed halfway equals an
# uninterrupted one, and a run without it logs no koleo_loss.
source "$(dirname "$0")/common.sh"
K=(--koleo=0.5 --log_every=1 --checkpoint_every=100)
hashes() { (cd "$1" && sha256sum student.safetensors teacher.safetensors optimizer.safetensors loss.safetensors | cut -c1-64); }
"$VFM" pretrain "${TINY[@]}" "${K[@]}" --run_dir="$WORK/full" --max_steps=8 > "$WORK/full.log"
grep -qE "^step 8/8 .* \(cls [0-9.]+, patch [0-9.]+, koleo -?[0-9.]+\)" "$WORK/full.log" \
  || { echo "FAIL: no koleo in the progress line"; cat "$WORK/full.log"; exit 1; }
"$VFM" pretrain "${TINY[@]}" "${K[@]}" --run_dir="$WORK/split" --max_steps=4 > "$WORK/split1.log"
"$VFM" pretrain "${TINY[@]}" "${K[@]}" --run_dir="$WORK/split" --max_steps=8 > "$WORK/split2.log"
grep -q "resuming from .*ckpt-00000004" "$WORK/split2.log" || { echo "FAIL: the second run did not resume"; exit 1; }
[ "$(hashes "$WORK/full/ckpt-00000008")" = "$(hashes "$WORK/split/ckpt-00000008")" ] \
  || { echo "FAIL: a resumed --koleo run differs from an uninterrupted one"; exit 1; }
"$VFM" pretrain "${TINY[@]}" --log_every=1 --run_dir="$WORK/off" --max_steps=2 > "$WORK/off.log"
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
lines = [json.loads(l) for l in open(f"{w}/full/metrics.jsonl")]
assert len(lines) == 8, lines
for l in lines:
    assert abs(l["loss"] - (l["cls_loss"] + l["patch_loss"] + 0.5 * l["koleo_loss"])) < 1e-4, l
assert all("koleo_loss" not in l for l in map(json.loads, open(f"{w}/off/metrics.jsonl")))
print("koleo: losses", [round(l["koleo_loss"], 4) for l in lines])
PY
echo "koleo: ok"

#!/usr/bin/env bash
# Exact resumption: N steps straight and N/2 + resume + N/2 give byte-identical weights, optimizer state,
# centres and loader state. The resumed half changes the data-parallel flags, which do not define the run
# (flags.json and the checkpoints record them all the same).
source "$(dirname "$0")/common.sh"
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/straight" --max_steps=24 --checkpoint_every=100 > "$WORK/straight.log"
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/split" --max_steps=12 --checkpoint_every=100 > "$WORK/split1.log"
"$VFM" pretrain "${TINY[@]}" --run_dir="$WORK/split" --max_steps=24 --checkpoint_every=100 --bucket_mb=0.25 \
  --comm_timeout_s=60 > "$WORK/split2.log"
grep -q "resuming from .*ckpt-00000012" "$WORK/split2.log" || { echo "FAIL: the second run did not resume"; exit 1; }
for f in student.safetensors teacher.safetensors optimizer.safetensors loss.safetensors; do
  cmp "$WORK/straight/ckpt-00000024/$f" "$WORK/split/ckpt-00000024/$f" || { echo "FAIL: $f differs"; exit 1; }
done
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
a, b = (json.load(open(f"{sys.argv[1]}/{r}/ckpt-00000024/state.json")) for r in ("straight", "split"))
assert a["loader"] == b["loader"] and a["step"] == b["step"] == 24, (a["loader"], b["loader"])
flags = json.load(open(f"{sys.argv[1]}/split/flags.json"))
for f in (flags, b["flags"]):
    assert (f["zero1"], f["bucket_mb"], f["comm_timeout_s"]) == ("false", "0.25", "60"), f
PY
echo "resume: 24 steps straight == 12 + resume + 12, byte for byte"

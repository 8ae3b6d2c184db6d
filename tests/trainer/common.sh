# Shared by the trainer's end-to-end tests: a tiny dataset and a tiny, fast model.
# Expects VFM (the binary), SRC (the source tree) and WORK (a scratch folder) to be set.
set -euo pipefail
rm -rf "$WORK" && mkdir -p "$WORK"
/usr/bin/python3 "$SRC/tests/trainer/make_tiny_dataset.py" 256 "$WORK"
"$VFM" shard --idx_images="$WORK/images.idx" --idx_labels="$WORK/labels.idx" --output="$WORK/data" \
  --modality=fashion > "$WORK/shard.log"
# 256 samples / batch 16 = 16 steps per epoch; 2 epochs: the run crosses an epoch boundary.
TINY=(--data="$WORK/data" --arch=vit_tiny --depth=1 --patch=4 --global_size=16 --local_crops=2 --local_size=8
      --out_dim=64 --head_hidden=64 --head_bottleneck=32 --batch=16 --epochs=2 --warmup_epochs=0.5
      --freeze_last_layer=0.25 --warmup_teacher_temp_epochs=1 --drop_path=0.1 --data_threads=2 --log_every=4)
export OMP_NUM_THREADS=2

# refused STATUS PATTERN CMD...: CMD must exit with STATUS (not a crash, not a hang) after exactly one line
# on stderr that matches PATTERN (grep -E).
refused() {
  local want=$1 pattern=$2 got=0
  shift 2
  timeout 120 "$@" > "$WORK/refused.out" 2> "$WORK/refused.err" || got=$?
  if [ "$got" -ne "$want" ] || [ "$(wc -l < "$WORK/refused.err")" -ne 1 ] || ! grep -qE -- "$pattern" "$WORK/refused.err"; then
    echo "FAIL: ${*:2} -> exit status $got (expected $want and one line matching '$pattern'); stderr:"
    cat "$WORK/refused.err"
    exit 1
  fi
  echo "  exit $got: $(cat "$WORK/refused.err")"
}

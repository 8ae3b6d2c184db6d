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

#!/usr/bin/env bash
# The "no behaviour change" check of refactors: trains the tiny recipe of common.sh for 24 steps (crossing
# an epoch, the last-layer freeze and drop path) on 1 rank and on 2 MPI ranks, and prints the SHA-256 of
# every checkpoint file. Compare the output before and after a change (recorded figures:
# bench/results/golden_hashes.md); CPU results depend on the processor's OpenBLAS kernels, so compare on
# one machine. --norm=imagenet: `vfm shard` now writes per-modality statistics into the dataset, and the
# default --norm=dataset would normalise with them; ImageNet's are what the recorded hashes were made with
# (and what --norm=dataset gives on a dataset without statistics). Usage: VFM=build/vfm SRC=. WORK=/tmp/golden bash tests/trainer/golden_check.sh
source "$(dirname "$0")/common.sh"
"$VFM" pretrain "${TINY[@]}" --norm=imagenet --run_dir="$WORK/one" --max_steps=24 --checkpoint_every=100 > "$WORK/one.log"
OMP_NUM_THREADS=1 OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun -np 2 --oversubscribe --allow-run-as-root \
  "$VFM" pretrain "${TINY[@]}" --norm=imagenet --run_dir="$WORK/two" --max_steps=24 --checkpoint_every=100 > "$WORK/two.log"
for run in one two; do
  (cd "$WORK/$run/ckpt-00000024" && sha256sum student.safetensors teacher.safetensors optimizer.safetensors \
    loss.safetensors | sed "s/^/$run /")
done

#!/usr/bin/env bash
# The GPU check, in two halves (see launch/README.md, "GPU check"):
#   launch/gpu_check.sh pack   on the build machine: a CUDA build for sm_90a, then the GPU test and
#                              benchmark binaries with the shared libraries they need that are not part of
#                              the system or the CUDA toolkit, as one tarball in gpu-pack/ (git-ignored).
#   launch/gpu_check.sh run    on the GPU machine, from the repo root with gpu-pack/ present: finds the
#                              CUDA/cuBLAS/NCCL libraries, runs the GPU tests, then vfm's benchmarks and
#                              the PyTorch baselines on the same shapes, and writes figures.json plus logs
#                              into $OUT (./gpu-out when unset). One run takes a few minutes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PACK=${VFM_GPU_PACK:-$ROOT/gpu-pack}
BUILD=${VFM_GPU_BUILD:-$ROOT/build-gpu}
ARCH=${VFM_GPU_ARCH:-90a}
BINARIES=(gpu_test bench_train_step bench_matmul bench_nccl bench_attention vfm)

pack() {
  # A fresh build folder is configured for $ARCH; an existing one (VFM_GPU_BUILD=build) is used as it is.
  [ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVFM_CUDA=ON \
    -DVFM_CUDA_ARCHITECTURES="$ARCH" >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target "${BINARIES[@]}" 2>&1 | tee "$BUILD/gpu_build.log" \
    | grep -E "error|warning: .*spill|FAILED" || true
  local stage
  stage=$(mktemp -d)
  mkdir -p "$stage/bin" "$stage/lib"
  for b in "${BINARIES[@]}"; do cp "$(find "$BUILD" -name "$b" -type f -perm -u+x | head -1)" "$stage/bin/"; done
  # ptxas's registers and spills of the fused attention kernels travel with the pack (compile-time figures).
  "$ROOT/bench/gpu/ptxas_report.sh" kernels/cuda/fused_attention.cu > "$stage/ptxas.txt" || true
  git -C "$ROOT" describe --always --dirty > "$stage/commit.txt"
  # Real data for a short `vfm pretrain` on the GPU: Fashion-MNIST's 10,000 test images as shards.
  local fmnist=/usr/share/datasets/fashion-mnist
  "$stage/bin/vfm" shard --idx_images=$fmnist/t10k-images-idx3-ubyte.gz --idx_labels=$fmnist/t10k-labels-idx1-ubyte.gz \
    --output="$stage/data" --modality=fashion > /dev/null
  # The ldd closure minus the C/C++ runtime (the GPU machine has its own, newer) and minus CUDA's own
  # libraries (the GPU machine has CUDA 13 and NCCL; run finds them).
  for b in "$stage"/bin/*; do
    ldd "$b" | awk '/=> \// {print $3}'
  done | sort -u | grep -vE '/(libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl|libnss_[a-z]+|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so' \
    | grep -vE 'libcuda\.|libcudart|libcublas|libnccl|libcudnn|/usr/local/cuda' | while read -r lib; do
    cp -L "$lib" "$stage/lib/"
  done
  mkdir -p "$PACK"
  tar -C "$stage" -czf "$PACK/vfm-gpu.tar.gz" .
  rm -rf "$stage"
  echo "packed $(du -h "$PACK/vfm-gpu.tar.gz" | cut -f1) into $PACK/vfm-gpu.tar.gz (commit $(git -C "$ROOT" rev-parse --short HEAD))"
}

run() {
  local out=${OUT:-$ROOT/gpu-out} py=${VFM_GPU_PYTHON:-python3}
  mkdir -p "$out"
  local stage
  stage=$(mktemp -d)
  tar -C "$stage" -xzf "$PACK/vfm-gpu.tar.gz"
  # CUDA 13 runtime, cuBLAS(Lt) and NCCL: the toolkit's or PyTorch's wheels, wherever they are.
  local dirs=""
  for name in libcudart.so.13 libcublasLt.so.13 libnccl.so.2 libcupti.so.13; do
    local f
    f=$(find / -name "$name*" -not -path '/proc/*' 2>/dev/null | head -1 || true)
    [ -n "$f" ] && dirs="$dirs:$(dirname "$f")" || echo "warning: $name not found"
  done
  # Only vfm's binaries get these libraries: PyTorch brings its own CUDA libraries (and refuses an older
  # cuDNN found first on the path).
  local vfm=(env "LD_LIBRARY_PATH=$stage/lib$dirs:${LD_LIBRARY_PATH:-}")
  cp "$stage/ptxas.txt" "$out/ptxas.txt"
  {
    date -u +"date %Y-%m-%dT%H:%M:%SZ"
    echo "commit $(cat "$stage/commit.txt") (packed)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
    for b in "$stage"/bin/*; do "${vfm[@]}" ldd "$b" | grep "not found" && echo "missing libraries for $b"; done
  } > "$out/machine.txt" 2>&1
  cat "$out/machine.txt"

  # VFM_GPU_CHECK_PARTS selects parts (default all): pretrain tests vfm_step matmul nccl nccl_net attention
  # torch_attention torch_step.
  local parts=" ${VFM_GPU_CHECK_PARTS:-pretrain tests vfm_step matmul nccl nccl_net attention torch_attention torch_step} "
  part() { [[ "$parts" == *" $1 "* ]]; }
  if part tests; then
  echo "== GPU tests"
  timeout 180 "${vfm[@]}" "$stage/bin/gpu_test" ${VFM_GPU_TEST_FILTER:+--gtest_filter=$VFM_GPU_TEST_FILTER} --gtest_output=json:"$out/gpu_test.json" > "$out/gpu_test.log" 2>&1 \
    && echo "gpu_test: passed" || echo "gpu_test: FAILED (rc $?)"
  grep -E "^\[  (FAILED|PASSED|SKIPPED) " "$out/gpu_test.log" | head -40 || true
  fi

  echo "== benchmarks"
  local bench="$out/bench.log"
  : > "$bench"
  run_json() {  # name, time limit (s), then the command; its last stdout line must be a JSON object
    local name=$1 limit=$2
    shift 2
    echo "-- $name: $*" >> "$bench"
    echo "-- $name"
    local rc=0
    timeout "$limit" "$@" > "$out/.last" 2>> "$bench" || rc=$?
    cat "$out/.last" >> "$bench"
    if [ $rc -eq 0 ]; then
      echo "\"$name\": $(tail -1 "$out/.last")," >> "$out/.figures"
    else
      echo "\"$name\": {\"error\": \"exit $rc$([ $rc -eq 124 ] && echo ', timed out') (see bench.log)\"}," >> "$out/.figures"
    fi
  }
  : > "$out/.figures"
  # vfm first (its correctness and speed are the point), the PyTorch baselines after, compile last.
  part vfm_step && run_json vfm_ibot_step_vitb16 90 "${vfm[@]}" "$stage/bin/bench_train_step" --device=cuda --arch=vit_base \
    --patch=16 --img=224 --local_img=96 --n_local=10 --batch=64 --out_dim=8192 --warmup=2 --steps=5 --profile_kernels
  part matmul && run_json vfm_matmul_vitb16 60 "${vfm[@]}" "$stage/bin/bench_matmul"
  part nccl && run_json vfm_nccl_allreduce 60 "${vfm[@]}" "$stage/bin/bench_nccl"
  # NCCL between hosts, as far as one machine can show it: 2 ranks on 2 GPUs with NCCL's shared-memory and
  # peer-to-peer transports off use its socket transport (NET/Socket) over loopback, as ranks on two
  # Ethernet hosts would over NCCL_SOCKET_IFNAME (launch/README.md). Needs 2 GPUs and mpirun.
  if part nccl_net; then
    if [ "$(nvidia-smi -L 2> /dev/null | grep -c '^GPU')" -ge 2 ] && command -v mpirun > /dev/null; then
      run_json vfm_nccl_allreduce_socket 90 "${vfm[@]}" NCCL_P2P_DISABLE=1 NCCL_SHM_DISABLE=1 NCCL_IB_DISABLE=1 \
        NCCL_SOCKET_IFNAME=lo NCCL_DEBUG=INFO "$ROOT/launch/mpirun.sh" -n 2 -- "$stage/bin/bench_nccl"
    else
      echo "-- vfm_nccl_allreduce_socket: skipped (needs 2 GPUs and mpirun)"
    fi
  fi
  part attention && run_json vfm_attention 90 "${vfm[@]}" "$stage/bin/bench_attention"
  part torch_attention && run_json torch_attention 90 "$py" "$ROOT/bench/gpu/attention_torch.py"
  part torch_step && run_json torch_ibot_step_vitb16 180 "$py" "$ROOT/bench/gpu/ibot_step_torch.py" --batch 64 \
    --n_local 10 --steps 10 --warmup 3
  if part pretrain; then
  # vfm pretrain on the GPU, end to end: 20 steps straight, and 10 + resume + 10 (checkpoints written
  # from and read back into GPU tensors); the last progress lines of both go into pretrain.log.
  echo "== vfm pretrain on the GPU"
  local run="$stage/run" args=(--flagfile="$ROOT/launch/configs/cpu_small.flags" --data="$stage/data" --device=cuda
    --max_minutes=0 --log_every=5 --checkpoint_every=10 --data_threads=8)
  {
    timeout 45 "${vfm[@]}" "$stage/bin/vfm" pretrain "${args[@]}" --run_dir="$run/straight" --max_steps=20 \
      && timeout 45 "${vfm[@]}" "$stage/bin/vfm" pretrain "${args[@]}" --run_dir="$run/resumed" --max_steps=10 \
      && timeout 45 "${vfm[@]}" "$stage/bin/vfm" pretrain "${args[@]}" --run_dir="$run/resumed" --max_steps=20 \
      && echo "pretrain: ran" || echo "pretrain: FAILED"
    echo "straight: $(tail -1 "$run/straight/metrics.jsonl" 2>/dev/null)"
    echo "resumed:  $(tail -1 "$run/resumed/metrics.jsonl" 2>/dev/null)"
  } > "$out/pretrain.log" 2>&1
  tail -3 "$out/pretrain.log"
  fi
  { echo "{"; cat "$out/.figures"; echo "\"machine\": \"$(head -3 "$out/machine.txt" | tr '\n' ';' | tr -d '"')\"}"; } \
    > "$out/figures.json"
  rm -f "$out/.figures" "$out/.last"
  "$py" -c "import json,sys; json.load(open(sys.argv[1]))" "$out/figures.json" && echo "figures: $out/figures.json"
  cat "$out/figures.json"
}

case "${1:-}" in
  pack) pack ;;
  run) run ;;
  *) echo "usage: launch/gpu_check.sh pack|run" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Registers and local-memory spills of every kernel in the given .cu files, per GPU architecture, as
# ptxas reports them (-Xptxas -v): a compile-time figure, so it is measured here, without a GPU.
# Prints a markdown table. Usage: bench/gpu/ptxas_report.sh kernels/cuda/fused_attention.cu [more.cu]
# Architectures: $VFM_PTXAS_ARCHS (default "sm_90a sm_80").
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
NVCC="${NVCC:-/usr/local/cuda/bin/nvcc}"
[ $# -ge 1 ] || { echo "usage: $0 FILE.cu [FILE.cu ...]" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| file | arch | kernel | registers | stack | spill stores / loads |"
echo "| --- | --- | --- | ---: | ---: | --- |"
for file in "$@"; do
  for arch in ${VFM_PTXAS_ARCHS:-sm_90a sm_80}; do
    "$NVCC" -std=c++17 -O3 -arch="$arch" -Xptxas -v -I"$ROOT" -DVFM_WITH_CUDA=1 -c "$ROOT/$file" \
      -o "$tmp/out.o" 2> "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
    # ptxas prints, per entry function: its (mangled) name, then stack/spills, then registers.
    awk -v file="$file" -v arch="$arch" '
      /Compiling entry function/ { match($0, /'"'"'[^'"'"']+'"'"'/); name = substr($0, RSTART + 1, RLENGTH - 2) }
      /bytes stack frame/ { stack = $1; stores = $5; loads = $9 }
      /Used [0-9]+ registers/ {
        match($0, /Used [0-9]+ registers/); regs = substr($0, RSTART + 5, RLENGTH - 15)
        cmd = "c++filt " name; cmd | getline demangled; close(cmd)
        sub(/^(void )?vfm::cuda::/, "", demangled); sub(/^\(anonymous namespace\)::/, "", demangled)
        sub(/\(.*$/, "", demangled)  # keep the name and template arguments
        printf "| %s | %s | %s | %s | %s | %s / %s |\n", file, arch, demangled, regs, stack, stores, loads
      }' "$tmp/log"
  done
done

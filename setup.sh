#!/usr/bin/env bash
# Installs every Debian package vfm needs to build, test and benchmark, then builds (Release).
# python3-matplotlib draws `vfm report`'s plots and `vfm attn`'s pictures (trainer/scripts/).
# Usage: bash setup.sh [build-dir]      (default: build)
set -euo pipefail
cd "$(dirname "$0")"
build=${1:-build}

packages=(
  build-essential cmake ninja-build pkg-config
  libopenblas-openmp-dev libabsl-dev libgtest-dev nlohmann-json3-dev
  libhdf5-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libtiff-dev zlib1g-dev
  libopenmpi-dev openmpi-bin iproute2
  python3 python3-pip python3-numpy python3-torch python3-torchvision python3-h5py python3-pil
  python3-skimage python3-matplotlib dataset-fashion-mnist
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# From PyPI into Debian's python3: safetensors (the PyTorch side of the parity tests) and timm without its
# dependencies (over Debian's torch; the export test loads vfm's files into timm's ViT).
/usr/bin/python3 -c "import safetensors" 2>/dev/null ||
  /usr/bin/python3 -m pip install -q --break-system-packages safetensors==0.8.0
/usr/bin/python3 -c "import timm" 2>/dev/null ||
  /usr/bin/python3 -m pip install -q --break-system-packages --no-deps timm==1.0.31

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}"
cmake --build "$build" -j"$(nproc)"

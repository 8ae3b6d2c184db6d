// Patchify / Unpatchify on the GPU: the same mapping and signatures as kernels/cpu/patch_embed.h
//   cols[b, py * (W/p) + px, c * p * p + ky * p + kx] = img[b, c, py * p + ky, px * p + kx]
// (H and W divisible by p). Unpatchify is the exact inverse, and patchify's backward. T = float or bf16.
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace vfm::cuda {

template <typename T>
void Patchify(const T* img, T* cols, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p);
template <typename T>
void Unpatchify(const T* cols, T* img, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p);

}  // namespace vfm::cuda

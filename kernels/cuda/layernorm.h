// LayerNorm over the last dimension (C) on the GPU; the math is in kernels/cpu/layernorm.h.
// Same signatures as the CPU kernels except that mean and rstd are always fp32 (for bf16 rows too:
// they are per-row statistics, cheap to keep exact), and the backward needs an fp32 workspace for
// the deterministic dw/db reduction (size from LayerNormBackwardWorkspace).
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace vfm::cuda {

template <typename T>
void LayerNormForward(const T* x, const T* w, const T* b, T* y, float* mean, float* rstd, int64_t rows, int64_t C,
                      double eps);

// Number of floats the backward's `workspace` must hold for (rows, C).
int64_t LayerNormBackwardWorkspace(int64_t rows, int64_t C);

// dw and db are accumulated into (+=, as the CPU kernel does); dx is overwritten. TW, the type of dw and
// db, is T, or float with bf16 activations (f32 master parameters: the fp32 sums are stored unrounded).
// Instantiated for (float, float), (bf16, bf16), (bf16, float).
template <typename T, typename TW = T>
void LayerNormBackward(const T* dy, const T* x, const T* w, const float* mean, const float* rstd, T* dx, TW* dw,
                       TW* db, int64_t rows, int64_t C, float* workspace);

}  // namespace vfm::cuda

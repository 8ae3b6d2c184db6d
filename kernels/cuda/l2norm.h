// Row-wise L2 normalisation over the last dimension (C) on the GPU; the math is in kernels/cpu/l2norm.h.
// Same signatures as the CPU kernels except that the saved row norms are always fp32 (bf16 rows too).
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace vfm::cuda {

// norm[r] receives n = max(||x_r||, eps) for the backward.
template <typename T>
void L2NormalizeForward(const T* x, T* y, float* norm, int64_t rows, int64_t C, double eps);
// dx is overwritten.
template <typename T>
void L2NormalizeBackward(const T* dy, const T* y, const float* norm, T* dx, int64_t rows, int64_t C, double eps);

}  // namespace vfm::cuda

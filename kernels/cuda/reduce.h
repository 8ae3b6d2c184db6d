// Sums over a middle axis on the GPU: the CUDA counterpart of kernels/cpu/reduce.h (same math; the CPU
// file is the reference). Arithmetic is fp32 whatever the storage type (f32 or bf16).
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace vfm::cuda {

// Sum over the middle axis of x viewed as [outer, n, inner] -> out [outer, inner] (overwritten; zeros
// when n == 0). fp32 accumulation, deterministic (fixed summation order, no atomics).
template <typename T>
void SumMiddleAxis(const T* x, T* out, int64_t outer, int64_t n, int64_t inner);

}  // namespace vfm::cuda

// Elementwise functions on the GPU, same signatures as kernels/cpu/unary.h (the math is there):
//   gelu(x) = 0.5 x (1 + erf(x / sqrt 2)),  gelu'(x) = Phi(x) + x phi(x)
//   exp, log (their backwards are binary ops: g * exp(x), g / x; see autograd/ops/unary.cc).
// Contiguous buffers of n elements; fp32 arithmetic for f32 and bf16 storage.
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace vfm::cuda {

template <typename T> void GeluForward(const T* x, T* y, int64_t n);
template <typename T> void GeluBackward(const T* dy, const T* x, T* dx, int64_t n);
template <typename T> void Exp(const T* x, T* y, int64_t n);
template <typename T> void Log(const T* x, T* y, int64_t n);

}  // namespace vfm::cuda

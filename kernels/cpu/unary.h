// Elementwise functions and their derivatives.
//   gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),  gelu'(x) = Phi(x) + x * phi(x)
//   exp' = exp,  log'(x) = 1/x
#pragma once
#include <cstdint>

namespace vfm::cpu {

template <typename T> void GeluForward(const T* x, T* y, int64_t n);
template <typename T> void GeluBackward(const T* dy, const T* x, T* dx, int64_t n);

}  // namespace vfm::cpu

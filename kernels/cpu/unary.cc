#include "kernels/cpu/unary.h"

#include <cmath>

namespace vfm::cpu {

template <typename T> void GeluForward(const T* x, T* y, int64_t n) {
  constexpr T kInvSqrt2 = T(0.70710678118654752440);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = T(0.5) * x[i] * (T(1) + std::erf(x[i] * kInvSqrt2));
}

template <typename T> void GeluBackward(const T* dy, const T* x, T* dx, int64_t n) {
  constexpr T kInvSqrt2 = T(0.70710678118654752440), kInvSqrt2Pi = T(0.39894228040143267794);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const T cdf = T(0.5) * (T(1) + std::erf(x[i] * kInvSqrt2));
    const T pdf = kInvSqrt2Pi * std::exp(T(-0.5) * x[i] * x[i]);
    dx[i] = dy[i] * (cdf + x[i] * pdf);
  }
}

template void GeluForward<float>(const float*, float*, int64_t);
template void GeluForward<double>(const double*, double*, int64_t);
template void GeluBackward<float>(const float*, const float*, float*, int64_t);
template void GeluBackward<double>(const double*, const double*, double*, int64_t);

}  // namespace vfm::cpu

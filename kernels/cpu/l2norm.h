// Row-wise L2 normalisation over the last dimension (C), as torch.nn.functional.normalize:
//   n = max(||x||, eps),  y = x / n
// Backward: where ||x|| > eps, dx = (dy - y * (dy . y)) / n; where clamped (n = eps), dx = dy / eps.
#pragma once
#include <cmath>
#include <cstdint>

namespace vfm::cpu {

// norm[r] receives n for the backward.
template <typename T>
void L2NormalizeForward(const T* x, T* y, T* norm, int64_t rows, int64_t C, double eps) {
#pragma omp parallel for schedule(static) if (rows * C > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += double(x[r * C + c]) * x[r * C + c];
    const double n = std::max(std::sqrt(s), eps);
    const T inv = T(1.0 / n);
    for (int64_t c = 0; c < C; ++c) y[r * C + c] = x[r * C + c] * inv;
    norm[r] = T(n);
  }
}

template <typename T>
void L2NormalizeBackward(const T* dy, const T* y, const T* norm, T* dx, int64_t rows, int64_t C, double eps) {
#pragma omp parallel for schedule(static) if (rows * C > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const T inv = T(1) / norm[r];
    double dot = 0;
    if (double(norm[r]) > eps)
      for (int64_t c = 0; c < C; ++c) dot += double(dy[r * C + c]) * y[r * C + c];
    for (int64_t c = 0; c < C; ++c) dx[r * C + c] = (dy[r * C + c] - y[r * C + c] * T(dot)) * inv;
  }
}

}  // namespace vfm::cpu

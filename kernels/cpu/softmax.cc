#include "kernels/cpu/softmax.h"

#include <algorithm>
#include <cmath>

namespace vfm::cpu {

namespace {
// Returns (max, log(sum(exp(x - max)))) of one row.
template <typename T> void RowStats(const T* x, int64_t C, T* max_out, T* log_sum_out) {
  T m = x[0];
  for (int64_t c = 1; c < C; ++c) m = std::max(m, x[c]);
  double s = 0;
  for (int64_t c = 0; c < C; ++c) s += std::exp(x[c] - m);
  *max_out = m;
  *log_sum_out = T(std::log(s));
}
}  // namespace

template <typename T> void SoftmaxForward(const T* x, T* y, int64_t rows, int64_t C) {
#pragma omp parallel for schedule(static) if (rows * C > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * C;
    T* yr = y + r * C;
    T m = xr[0];
    for (int64_t c = 1; c < C; ++c) m = std::max(m, xr[c]);
    double s = 0;
    for (int64_t c = 0; c < C; ++c) {
      yr[c] = std::exp(xr[c] - m);
      s += yr[c];
    }
    const T inv = T(1.0 / s);
    for (int64_t c = 0; c < C; ++c) yr[c] *= inv;
  }
}

template <typename T> void SoftmaxBackward(const T* dy, const T* y, T* dx, int64_t rows, int64_t C) {
#pragma omp parallel for schedule(static) if (rows * C > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const T* dyr = dy + r * C;
    const T* yr = y + r * C;
    double dot = 0;
    for (int64_t c = 0; c < C; ++c) dot += double(dyr[c]) * yr[c];
    for (int64_t c = 0; c < C; ++c) dx[r * C + c] = yr[c] * (dyr[c] - T(dot));
  }
}

template <typename T> void LogSoftmaxForward(const T* x, T* y, int64_t rows, int64_t C) {
#pragma omp parallel for schedule(static) if (rows * C > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    T m, log_sum;
    RowStats(x + r * C, C, &m, &log_sum);
    for (int64_t c = 0; c < C; ++c) y[r * C + c] = x[r * C + c] - m - log_sum;
  }
}

template <typename T> void LogSoftmaxBackward(const T* dy, const T* y, T* dx, int64_t rows, int64_t C) {
#pragma omp parallel for schedule(static) if (rows * C > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const T* dyr = dy + r * C;
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += dyr[c];
    for (int64_t c = 0; c < C; ++c) dx[r * C + c] = dyr[c] - std::exp(y[r * C + c]) * T(s);
  }
}

#define VFM_INSTANTIATE(T)                                                   \
  template void SoftmaxForward<T>(const T*, T*, int64_t, int64_t);           \
  template void SoftmaxBackward<T>(const T*, const T*, T*, int64_t, int64_t); \
  template void LogSoftmaxForward<T>(const T*, T*, int64_t, int64_t);        \
  template void LogSoftmaxBackward<T>(const T*, const T*, T*, int64_t, int64_t);
VFM_INSTANTIATE(float)
VFM_INSTANTIATE(double)
#undef VFM_INSTANTIATE

}  // namespace vfm::cpu

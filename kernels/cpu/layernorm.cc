#include "kernels/cpu/layernorm.h"

#include <omp.h>

#include <cmath>
#include <vector>

namespace vfm::cpu {

template <typename T>
void LayerNormForward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows, int64_t C,
                      double eps) {
#pragma omp parallel for schedule(static) if (rows * C > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * C;
    T* yr = y + r * C;
    // Two passes in the row's type with a double sum: stable and exact enough for f32 rows of <= 4096.
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += xr[c];
    const T m = T(s / double(C));
    double v = 0;
    for (int64_t c = 0; c < C; ++c) {
      const double d = double(xr[c] - m);
      v += d * d;
    }
    const T rs = T(1.0 / std::sqrt(v / double(C) + eps));
    for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - m) * rs * w[c] + b[c];
    mean[r] = m;
    rstd[r] = rs;
  }
}

template <typename T>
void LayerNormBackward(const T* dy, const T* x, const T* w, const T* mean, const T* rstd, T* dx, T* dw, T* db,
                       int64_t rows, int64_t C) {
  const int threads = (rows * C > 32768) ? omp_get_max_threads() : 1;
  // Each thread sums dw/db over its rows into its own buffer; the buffers are added in a fixed order
  // afterwards, so the result does not depend on scheduling.
  std::vector<double> partial(size_t(threads) * 2 * size_t(C), 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    double* pdw = partial.data() + size_t(t) * 2 * C;
    double* pdb = pdw + C;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * C;
      const T* dyr = dy + r * C;
      T* dxr = dx + r * C;
      const T m = mean[r], rs = rstd[r];
      double sum_dxhat = 0, sum_dxhat_xhat = 0;
      for (int64_t c = 0; c < C; ++c) {
        const T xhat = (xr[c] - m) * rs;
        const T dxhat = dyr[c] * w[c];
        sum_dxhat += dxhat;
        sum_dxhat_xhat += double(dxhat) * xhat;
        pdw[c] += double(dyr[c]) * xhat;
        pdb[c] += dyr[c];
      }
      const T mean_dxhat = T(sum_dxhat / double(C)), mean_dxhat_xhat = T(sum_dxhat_xhat / double(C));
      for (int64_t c = 0; c < C; ++c) {
        const T xhat = (xr[c] - m) * rs;
        dxr[c] = rs * (dyr[c] * w[c] - mean_dxhat - xhat * mean_dxhat_xhat);
      }
    }
  }
  for (int t = 0; t < threads; ++t) {
    const double* pdw = partial.data() + size_t(t) * 2 * C;
    for (int64_t c = 0; c < C; ++c) {
      dw[c] += T(pdw[c]);
      db[c] += T(pdw[C + c]);
    }
  }
}

template void LayerNormForward<float>(const float*, const float*, const float*, float*, float*, float*, int64_t,
                                      int64_t, double);
template void LayerNormForward<double>(const double*, const double*, const double*, double*, double*, double*,
                                       int64_t, int64_t, double);
template void LayerNormBackward<float>(const float*, const float*, const float*, const float*, const float*,
                                       float*, float*, float*, int64_t, int64_t);
template void LayerNormBackward<double>(const double*, const double*, const double*, const double*,
                                        const double*, double*, double*, double*, int64_t, int64_t);

}  // namespace vfm::cpu

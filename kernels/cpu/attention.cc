#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/matmul.h"

namespace vfm::cpu {

template <typename T>
void AttentionForward(const T* qkv, T* out, T* lse, AttentionShape sh, T scale) {
  const int64_t N = sh.tokens, H = sh.heads, D = sh.head_dim, C = H * D;
#pragma omp parallel
  {
    std::vector<T> S(static_cast<size_t>(N * N));
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < sh.batch * H; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      const T* q = qkv + b * N * 3 * C + h * D;
      const T* k = q + C;
      const T* v = q + 2 * C;
      T* o = out + b * N * C + h * D;
      T* l = lse + bh * N;
      Gemm<T>(false, true, N, N, D, scale, q, 3 * C, k, 3 * C, T(0), S.data(), N);
      for (int64_t i = 0; i < N; ++i) {
        T* row = S.data() + i * N;
        const T m = *std::max_element(row, row + N);
        double sum = 0;
        for (int64_t j = 0; j < N; ++j) {
          row[j] = std::exp(row[j] - m);
          sum += row[j];
        }
        const T inv = T(1.0 / sum);
        for (int64_t j = 0; j < N; ++j) row[j] *= inv;
        l[i] = m + T(std::log(sum));
      }
      Gemm<T>(false, false, N, D, N, T(1), S.data(), N, v, 3 * C, T(0), o, C);
    }
  }
}

template <typename T>
void AttentionBackward(const T* qkv, const T* out, const T* dout, const T* lse, T* dqkv, AttentionShape sh,
                       T scale) {
  const int64_t N = sh.tokens, H = sh.heads, D = sh.head_dim, C = H * D;
#pragma omp parallel
  {
    std::vector<T> P(static_cast<size_t>(N * N)), dP(static_cast<size_t>(N * N)), Drow(static_cast<size_t>(N));
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < sh.batch * H; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      const T* q = qkv + b * N * 3 * C + h * D;
      const T* k = q + C;
      const T* v = q + 2 * C;
      const T* o = out + b * N * C + h * D;
      const T* dO = dout + b * N * C + h * D;
      const T* l = lse + bh * N;
      T* dq = dqkv + b * N * 3 * C + h * D;
      T* dk = dq + C;
      T* dv = dq + 2 * C;
      Gemm<T>(false, true, N, N, D, scale, q, 3 * C, k, 3 * C, T(0), P.data(), N);
      for (int64_t i = 0; i < N; ++i) {
        T* row = P.data() + i * N;
        for (int64_t j = 0; j < N; ++j) row[j] = std::exp(row[j] - l[i]);
        double d = 0;
        for (int64_t c = 0; c < D; ++c) d += double(dO[i * C + c]) * o[i * C + c];
        Drow[i] = T(d);
      }
      Gemm<T>(true, false, N, D, N, T(1), P.data(), N, dO, C, T(0), dv, 3 * C);
      Gemm<T>(false, true, N, N, D, T(1), dO, C, v, 3 * C, T(0), dP.data(), N);
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < N; ++j) dP[i * N + j] = P[i * N + j] * (dP[i * N + j] - Drow[i]);
      Gemm<T>(false, false, N, D, N, scale, dP.data(), N, k, 3 * C, T(0), dq, 3 * C);
      Gemm<T>(true, false, N, D, N, scale, dP.data(), N, q, 3 * C, T(0), dk, 3 * C);
    }
  }
}

template void AttentionForward<float>(const float*, float*, float*, AttentionShape, float);
template void AttentionForward<double>(const double*, double*, double*, AttentionShape, double);
template void AttentionBackward<float>(const float*, const float*, const float*, const float*, float*,
                                       AttentionShape, float);
template void AttentionBackward<double>(const double*, const double*, const double*, const double*, double*,
                                        AttentionShape, double);

}  // namespace vfm::cpu

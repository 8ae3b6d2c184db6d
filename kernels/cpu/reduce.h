// Sums over a middle axis: out[o, i] = sum_k x[o, k, i], in the storage type, k in order (the reference
// of kernels/cuda/reduce.cu, which accumulates in fp32).
#pragma once
#include <cstdint>

namespace vfm::cpu {

// Sum over the middle axis of x viewed as [outer, n, inner] -> out [outer, inner] (overwritten).
template <typename T>
void SumMiddleAxis(const T* x, T* out, int64_t outer, int64_t n, int64_t inner) {
#pragma omp parallel for schedule(static) if (outer * n * inner > 65536 && outer > 1)
  for (int64_t o = 0; o < outer; ++o) {
    T* dst = out + o * inner;
    for (int64_t i = 0; i < inner; ++i) dst[i] = T(0);
    for (int64_t k = 0; k < n; ++k) {
      const T* src = x + (o * n + k) * inner;
      for (int64_t i = 0; i < inner; ++i) dst[i] += src[i];
    }
  }
}

}  // namespace vfm::cpu

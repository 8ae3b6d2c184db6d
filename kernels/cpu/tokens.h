// Per-sample token gathers (the reference of kernels/cuda/tokens.cu):
//   forward   y[b, m, :] = x[b, index[b, m], :]       x [B, N, D], index [B, M] in [0, N), y [B, M, D]
//   backward  dx[b, index[b, m], :] += dy[b, m, :]    (dx zeroed by the caller; repeated indices add up)
// Concat needs no kernel: it copies into slices of its output (Tensor::CopyFrom).
#pragma once
#include <cstdint>
#include <cstring>

namespace vfm::cpu {

template <typename T>
void GatherTokensForward(const T* x, const int64_t* index, T* y, int64_t B, int64_t N, int64_t M, int64_t D) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t m = 0; m < M; ++m)
      std::memcpy(y + (b * M + m) * D, x + (b * N + index[b * M + m]) * D, sizeof(T) * size_t(D));
}

template <typename T>
void GatherTokensBackward(const T* dy, const int64_t* index, T* dx, int64_t B, int64_t N, int64_t M, int64_t D) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t m = 0; m < M; ++m) {
      T* row = dx + (b * N + index[b * M + m]) * D;
      for (int64_t d = 0; d < D; ++d) row[d] += dy[(b * M + m) * D + d];
    }
}

}  // namespace vfm::cpu

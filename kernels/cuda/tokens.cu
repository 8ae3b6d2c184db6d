// Token gathers on the GPU (CPU: the loops in autograd/ops/tokens.cc):
//   forward  y[b, m, :] = x[b, index[b, m], :]          x [B, N, D], index [B, M] i64, y [B, M, D]
//   backward dx[b, index[b, m], :] += dy[b, m, :]
// Work split: one thread per element of y / dy (d fastest: a warp moves contiguous pieces of a
// token row, coalesced on both sides), grid-stride. The backward adds with atomicAdd; with the
// unique per-sample indices the model uses, each dx element gets at most one addition onto its
// zero, so the result is exact and run-to-run identical (see kernels/cuda/tokens.h).
#include "kernels/cuda/tokens.h"

#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

template <typename T>
__global__ void GatherKernel(const T* __restrict__ x, const int64_t* __restrict__ index, T* __restrict__ y,
                             int64_t N, int64_t M, int64_t D, int64_t n) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t d = e % D, bm = e / D, b = bm / M;
    const int64_t src = index[bm];
    y[e] = (src >= 0 && src < N) ? x[(b * N + src) * D + d] : FromFloat<T>(0.0f);
  }
}

template <typename T>
__global__ void ScatterAddKernel(const T* __restrict__ dy, const int64_t* __restrict__ index, T* __restrict__ dx,
                                 int64_t N, int64_t M, int64_t D, int64_t n) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t d = e % D, bm = e / D, b = bm / M;
    const int64_t dst = index[bm];
    if (dst >= 0 && dst < N) atomicAdd(dx + (b * N + dst) * D + d, dy[e]);
  }
}

}  // namespace

template <typename T>
void GatherTokensForward(const T* x, const int64_t* index, T* y, int64_t B, int64_t N, int64_t M, int64_t D) {
  const int64_t n = B * M * D;
  if (n == 0) return;
  GatherKernel<<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(Dev(x), index, Dev(y), N, M, D, n);
  VFM_CUDA_LAUNCHED("GatherTokensForward");
}

template <typename T>
void GatherTokensBackward(const T* dy, const int64_t* index, T* dx, int64_t B, int64_t N, int64_t M, int64_t D) {
  const int64_t n = B * M * D;
  if (n == 0) return;
  ScatterAddKernel<<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(Dev(dy), index, Dev(dx), N, M, D, n);
  VFM_CUDA_LAUNCHED("GatherTokensBackward");
}

template void GatherTokensForward<float>(const float*, const int64_t*, float*, int64_t, int64_t, int64_t, int64_t);
template void GatherTokensForward<bf16>(const bf16*, const int64_t*, bf16*, int64_t, int64_t, int64_t, int64_t);
template void GatherTokensBackward<float>(const float*, const int64_t*, float*, int64_t, int64_t, int64_t, int64_t);
template void GatherTokensBackward<bf16>(const bf16*, const int64_t*, bf16*, int64_t, int64_t, int64_t, int64_t);

}  // namespace vfm::cuda

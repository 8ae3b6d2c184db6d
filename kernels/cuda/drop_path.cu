// Stochastic depth on the GPU: y[b, i] = x[b, i] * scale[b], scale[b] = keep[b] / keep_prob (0 when
// sample b's branch is dropped), or with a residual r: y[b, i] = r[b, i] + x[b, i] * scale[b] (the
// residual add fused: one pass instead of two). The CPU path is Mul(x, scale) with scale broadcast over
// [B, 1, ...], then Add (autograd/ops/drop_path.cc); the backward multiplies dy by the same scale.
// Work split: a grid-stride loop in which consecutive threads touch consecutive elements (coalesced),
// the per-sample scale a broadcast read. When a sample's row length is a multiple of 8 and both
// pointers are 16-byte aligned (the model's [B, N, D] activations), a thread moves 8 elements with
// 16-byte accesses (elementwise.cuh), all of one sample; otherwise one element per thread.
#include "kernels/cuda/drop_path.h"

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

template <typename T>
__global__ void ScaleKernel(const T* __restrict__ x, const float* __restrict__ scale, const T* __restrict__ residual,
                            T* __restrict__ y, int64_t n, int64_t inner) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float v = ToFloat(x[i]) * scale[i / inner];
    y[i] = FromFloat<T>(residual ? ToFloat(residual[i]) + v : v);
  }
}

// The same in packs of kPack elements (inner % kPack == 0, so a pack lies within one sample).
template <typename T>
__global__ void ScalePacksKernel(const T* __restrict__ x, const float* __restrict__ scale,
                                 const T* __restrict__ residual, T* __restrict__ y, int64_t packs,
                                 int64_t inner_packs) {
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < packs; p += int64_t(gridDim.x) * blockDim.x) {
    float v[kPack];
    LoadPack(x + p * kPack, v);
    const float s = scale[p / inner_packs];
    for (int j = 0; j < kPack; ++j) v[j] *= s;
    if (residual) {
      float r[kPack];
      LoadPack(residual + p * kPack, r);
      for (int j = 0; j < kPack; ++j) v[j] = r[j] + v[j];
    }
    StorePack(y + p * kPack, v);
  }
}

}  // namespace

template <typename T>
void DropPathScale(const T* x, const float* scale, T* y, int64_t batch, int64_t inner, const T* residual) {
  const int64_t n = batch * inner;
  if (n == 0) return;
  if (inner % kPack == 0 && Aligned16(x) && Aligned16(y) && (!residual || Aligned16(residual)))
    ScalePacksKernel<<<GridStrideBlocks(n / kPack), kGridStrideThreads, 0, Compute()>>>(
        Dev(x), scale, Dev(residual), Dev(y), n / kPack, inner / kPack);
  else
    ScaleKernel<<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(Dev(x), scale, Dev(residual), Dev(y), n,
                                                                           inner);
  VFM_CUDA_LAUNCHED("DropPathScale");
}

template void DropPathScale<float>(const float*, const float*, float*, int64_t, int64_t, const float*);
template void DropPathScale<bf16>(const bf16*, const float*, bf16*, int64_t, int64_t, const bf16*);

}  // namespace vfm::cuda

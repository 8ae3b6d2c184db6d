// Stochastic depth on the GPU: y[b, i] = x[b, i] * scale[b], scale[b] = keep[b] / keep_prob (0 when
// sample b's branch is dropped). The CPU path is Mul(x, scale) with scale broadcast over [B, 1, ...]
// (autograd/ops/drop_path.cc); the backward multiplies dy by the same scale.
// Work split: one thread per element, grid-stride; consecutive threads touch consecutive elements
// (coalesced), the per-sample scale is a broadcast read.
#include "kernels/cuda/drop_path.h"

#include <algorithm>

#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

template <typename T>
__global__ void ScaleKernel(const T* __restrict__ x, const float* __restrict__ scale, T* __restrict__ y, int64_t n,
                            int64_t inner) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = FromFloat<T>(ToFloat(x[i]) * scale[i / inner]);
}

unsigned GridFor(int64_t n) { return unsigned(std::min<int64_t>((n + 255) / 256, 65535)); }

}  // namespace

template <typename T>
void DropPathScale(const T* x, const float* scale, T* y, int64_t batch, int64_t inner) {
  const int64_t n = batch * inner;
  if (n == 0) return;
  ScaleKernel<<<GridFor(n), 256, 0, Compute()>>>(Dev(x), scale, Dev(y), n, inner);
  VFM_CUDA_LAUNCHED("DropPathScale");
}

template void DropPathScale<float>(const float*, const float*, float*, int64_t, int64_t);
template void DropPathScale<bf16>(const bf16*, const float*, bf16*, int64_t, int64_t);

}  // namespace vfm::cuda

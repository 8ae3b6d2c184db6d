// Row-wise L2 normalisation over the last dimension (C) on the GPU; the math is in kernels/cpu/l2norm.h:
//   n = max(||x||, eps),  y = x / n
//   dx = (dy - y * (dy . y)) / n  where ||x|| > eps;  dx = dy / eps where the norm was clamped.
// Arithmetic in fp32 whatever the storage type; n is saved as fp32.
//
// Work split: one block per row (a grid-stride loop over rows past 2^30); threads stride over the row
// (coalesced), the sum of squares / dot product is reduced with warp shuffles and shared memory, then
// a second pass writes the row. The block size grows with the width: 32 threads (a warp) for the iBOT
// head's 256-wide bottleneck rows, more for wider rows. Fixed reduction order: reproducible results.
#include "kernels/cuda/l2norm.h"

#include <algorithm>

#include "kernels/cuda/warp_reduce.cuh"
#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

template <typename T>
__global__ void ForwardKernel(const T* __restrict__ x, T* __restrict__ y, float* __restrict__ norm, int64_t rows,
                              int64_t C, float eps) {
  __shared__ float shared[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * C;
    T* yr = y + row * C;
    float s = 0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
      const float v = ToFloat(xr[c]);
      s += v * v;
    }
    const float n = fmaxf(sqrtf(BlockSum(s, shared)), eps);
    const float inv = 1.0f / n;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) yr[c] = FromFloat<T>(ToFloat(xr[c]) * inv);
    if (threadIdx.x == 0) norm[row] = n;
  }
}

template <typename T>
__global__ void BackwardKernel(const T* __restrict__ dy, const T* __restrict__ y, const float* __restrict__ norm,
                               T* __restrict__ dx, int64_t rows, int64_t C, float eps) {
  __shared__ float shared[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* dyr = dy + row * C;
    const T* yr = y + row * C;
    T* dxr = dx + row * C;
    const float n = norm[row], inv = 1.0f / n;
    float dot = 0;
    if (n > eps) {  // uniform across the block (one row), so the barriers inside are safe
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dot += ToFloat(dyr[c]) * ToFloat(yr[c]);
      dot = BlockSum(dot, shared);
    }
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
      dxr[c] = FromFloat<T>((ToFloat(dyr[c]) - ToFloat(yr[c]) * dot) * inv);
  }
}

int ThreadsFor(int64_t C) {
  if (C <= 256) return 32;
  if (C <= 1024) return 128;
  if (C <= 8192) return 256;
  return 1024;
}
unsigned GridFor(int64_t rows) { return unsigned(std::min<int64_t>(rows, int64_t(1) << 30)); }

}  // namespace

template <typename T>
void L2NormalizeForward(const T* x, T* y, float* norm, int64_t rows, int64_t C, double eps) {
  if (rows == 0) return;
  ForwardKernel<<<GridFor(rows), ThreadsFor(C), 0, Compute()>>>(Dev(x), Dev(y), norm, rows, C, float(eps));
  VFM_CUDA_LAUNCHED("L2NormalizeForward");
}

template <typename T>
void L2NormalizeBackward(const T* dy, const T* y, const float* norm, T* dx, int64_t rows, int64_t C, double eps) {
  if (rows == 0 || C == 0) return;
  BackwardKernel<<<GridFor(rows), ThreadsFor(C), 0, Compute()>>>(Dev(dy), Dev(y), norm, Dev(dx), rows, C,
                                                                 float(eps));
  VFM_CUDA_LAUNCHED("L2NormalizeBackward");
}

template void L2NormalizeForward<float>(const float*, float*, float*, int64_t, int64_t, double);
template void L2NormalizeForward<bf16>(const bf16*, bf16*, float*, int64_t, int64_t, double);
template void L2NormalizeBackward<float>(const float*, const float*, const float*, float*, int64_t, int64_t, double);
template void L2NormalizeBackward<bf16>(const bf16*, const bf16*, const float*, bf16*, int64_t, int64_t, double);

}  // namespace vfm::cuda

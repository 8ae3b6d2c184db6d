// Softmax and log-softmax over the last dimension (C) on the GPU; the math is in kernels/cpu/softmax.h:
//   y = exp(x - max) / sum(exp(x - max)),           dx = y * (dy - sum(dy * y))
//   l = x - max - log(sum(exp(x - max))),           dx = dy - exp(l) * sum(dy)
// Arithmetic in fp32 whatever the storage type.
//
// Work split: one block per row (a grid-stride loop over rows past 2^30). Rows are wide (the iBOT
// head's K = 8192 prototypes, up to 65536), so a whole block shares a row; threads stride over it
// (coalesced). The forward makes one pass for an online (max, sum of exp) per thread -- when a larger
// max arrives, the running sum is rescaled by exp(old - new) -- then combines the threads' pairs with
// warp shuffles and shared memory, and makes a second pass to write the output. The backward makes
// one pass for the row's dot product (or sum) and one to write dx. The block size grows with the row
// width (32 threads for short rows up to 1024 for the widest) so short rows do not idle most lanes.
// The reductions run in a fixed order for a given launch shape: results are reproducible.
#include "kernels/cuda/softmax.h"

#include <algorithm>

#include "kernels/cuda/warp_reduce.cuh"
#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

// A running (max, sum of exp(x - max)). An empty pair is (-inf, 0).
struct MaxSum {
  float m, s;
};

__device__ __forceinline__ MaxSum Combine(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) return {m, a.s + b.s};  // both empty (a NaN seen alone stays in s)
  return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

__device__ __forceinline__ MaxSum WarpCombine(MaxSum v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const MaxSum o{__shfl_xor_sync(0xffffffffu, v.m, offset), __shfl_xor_sync(0xffffffffu, v.s, offset)};
    v = Combine(v, o);
  }
  return v;
}

__device__ MaxSum BlockCombine(MaxSum v, float* shared_m, float* shared_s) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = WarpCombine(v);
  __syncthreads();
  if (lane == 0) {
    shared_m[warp] = v.m;
    shared_s[warp] = v.s;
  }
  __syncthreads();
  if (warp == 0) {
    MaxSum w = lane < warps ? MaxSum{shared_m[lane], shared_s[lane]} : MaxSum{-INFINITY, 0.0f};
    w = WarpCombine(w);
    if (lane == 0) {
      shared_m[0] = w.m;
      shared_s[0] = w.s;
    }
  }
  __syncthreads();
  return {shared_m[0], shared_s[0]};
}

// The row's max and sum(exp(x - max)), every thread of the block gets them.
template <typename T>
__device__ MaxSum RowMaxSum(const T* xr, int64_t C, float* shared_m, float* shared_s) {
  MaxSum acc{-INFINITY, 0.0f};
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const float v = ToFloat(xr[c]);
    if (v > acc.m) {
      acc.s = acc.s * expf(acc.m - v) + 1.0f;
      acc.m = v;
    } else if (v != -INFINITY) {  // v <= max (so max is finite), or v is NaN (propagates)
      acc.s += expf(v - acc.m);
    }
  }
  return BlockCombine(acc, shared_m, shared_s);
}

template <typename T, bool kLog>
__global__ void ForwardKernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t C) {
  __shared__ float shared_m[32], shared_s[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * C;
    T* yr = y + row * C;
    const MaxSum ms = RowMaxSum(xr, C, shared_m, shared_s);
    if (kLog) {
      const float log_sum = logf(ms.s);
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x) yr[c] = FromFloat<T>(ToFloat(xr[c]) - ms.m - log_sum);
    } else {
      const float inv = 1.0f / ms.s;
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x) yr[c] = FromFloat<T>(expf(ToFloat(xr[c]) - ms.m) * inv);
    }
  }
}

template <typename T>
__global__ void SoftmaxBackwardKernel(const T* __restrict__ dy, const T* __restrict__ y, T* __restrict__ dx,
                                      int64_t rows, int64_t C) {
  __shared__ float shared[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* dyr = dy + row * C;
    const T* yr = y + row * C;
    T* dxr = dx + row * C;
    float dot = 0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dot += ToFloat(dyr[c]) * ToFloat(yr[c]);
    dot = BlockSum(dot, shared);
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
      dxr[c] = FromFloat<T>(ToFloat(yr[c]) * (ToFloat(dyr[c]) - dot));
  }
}

template <typename T>
__global__ void LogSoftmaxBackwardKernel(const T* __restrict__ dy, const T* __restrict__ y, T* __restrict__ dx,
                                         int64_t rows, int64_t C) {
  __shared__ float shared[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* dyr = dy + row * C;
    const T* yr = y + row * C;
    T* dxr = dx + row * C;
    float s = 0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += ToFloat(dyr[c]);
    s = BlockSum(s, shared);
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
      dxr[c] = FromFloat<T>(ToFloat(dyr[c]) - expf(ToFloat(yr[c])) * s);
  }
}

// Threads per row: enough that each thread has a handful of elements, a multiple of 32, <= 1024.
int ThreadsFor(int64_t C) {
  if (C <= 256) return 32;
  if (C <= 1024) return 128;
  if (C <= 8192) return 256;
  return 1024;
}
unsigned GridFor(int64_t rows) { return unsigned(std::min<int64_t>(rows, int64_t(1) << 30)); }

}  // namespace

template <typename T> void SoftmaxForward(const T* x, T* y, int64_t rows, int64_t C) {
  if (rows == 0 || C == 0) return;
  ForwardKernel<DeviceType<T>, false><<<GridFor(rows), ThreadsFor(C), 0, Compute()>>>(Dev(x), Dev(y), rows, C);
  VFM_CUDA_LAUNCHED("SoftmaxForward");
}

template <typename T> void LogSoftmaxForward(const T* x, T* y, int64_t rows, int64_t C) {
  if (rows == 0 || C == 0) return;
  ForwardKernel<DeviceType<T>, true><<<GridFor(rows), ThreadsFor(C), 0, Compute()>>>(Dev(x), Dev(y), rows, C);
  VFM_CUDA_LAUNCHED("LogSoftmaxForward");
}

template <typename T> void SoftmaxBackward(const T* dy, const T* y, T* dx, int64_t rows, int64_t C) {
  if (rows == 0 || C == 0) return;
  SoftmaxBackwardKernel<<<GridFor(rows), ThreadsFor(C), 0, Compute()>>>(Dev(dy), Dev(y), Dev(dx), rows, C);
  VFM_CUDA_LAUNCHED("SoftmaxBackward");
}

template <typename T> void LogSoftmaxBackward(const T* dy, const T* y, T* dx, int64_t rows, int64_t C) {
  if (rows == 0 || C == 0) return;
  LogSoftmaxBackwardKernel<<<GridFor(rows), ThreadsFor(C), 0, Compute()>>>(Dev(dy), Dev(y), Dev(dx), rows, C);
  VFM_CUDA_LAUNCHED("LogSoftmaxBackward");
}

#define VFM_INSTANTIATE(T)                                                    \
  template void SoftmaxForward<T>(const T*, T*, int64_t, int64_t);            \
  template void SoftmaxBackward<T>(const T*, const T*, T*, int64_t, int64_t);  \
  template void LogSoftmaxForward<T>(const T*, T*, int64_t, int64_t);         \
  template void LogSoftmaxBackward<T>(const T*, const T*, T*, int64_t, int64_t);
VFM_INSTANTIATE(float)
VFM_INSTANTIATE(bf16)
#undef VFM_INSTANTIATE

}  // namespace vfm::cuda

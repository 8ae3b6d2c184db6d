// Elementwise GELU (exact erf form, forward and backward), exp and log on the GPU. The math is in
// kernels/cpu/unary.h and the CPU loops (kernels/cpu/unary.cc, autograd/ops/unary.cc); the fp32
// expressions here are evaluated in the same order as the CPU's float ones, with the device's erff,
// expf and logf (a few ulp from the host's), and bf16 inputs are widened to fp32 and the result rounded
// once.
// Work split: one element per thread in a grid-stride loop (256 threads per block, at most 65535
// blocks): purely memory bound, consecutive threads touch consecutive elements (coalesced).
#include "kernels/cuda/unary.h"

#include <algorithm>

#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

constexpr int kThreads = 256;
unsigned GridFor(int64_t n) { return unsigned(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535)); }

constexpr float kInvSqrt2 = 0.70710678118654752440f, kInvSqrt2Pi = 0.39894228040143267794f;

struct GeluF {
  __device__ float operator()(float x) const { return 0.5f * x * (1.f + erff(x * kInvSqrt2)); }
};
struct ExpF {
  __device__ float operator()(float x) const { return expf(x); }
};
struct LogF {
  __device__ float operator()(float x) const { return logf(x); }
};

template <typename D, typename F>
__global__ void MapKernel(const D* x, D* y, int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = FromFloat<D>(f(ToFloat(x[i])));
}

template <typename D>
__global__ void GeluBackwardKernel(const D* dy, const D* x, D* dx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float v = ToFloat(x[i]);
    const float cdf = 0.5f * (1.f + erff(v * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * expf(-0.5f * v * v);
    dx[i] = FromFloat<D>(ToFloat(dy[i]) * (cdf + v * pdf));
  }
}

template <typename T, typename F>
void Map(const T* x, T* y, int64_t n, F f) {
  if (n == 0) return;
  MapKernel<<<GridFor(n), kThreads, 0, Compute()>>>(Dev(x), Dev(y), n, f);
}

}  // namespace

template <typename T> void GeluForward(const T* x, T* y, int64_t n) {
  Map(x, y, n, GeluF{});
  VFM_CUDA_LAUNCHED("GeluForward");
}

template <typename T> void GeluBackward(const T* dy, const T* x, T* dx, int64_t n) {
  if (n == 0) return;
  GeluBackwardKernel<<<GridFor(n), kThreads, 0, Compute()>>>(Dev(dy), Dev(x), Dev(dx), n);
  VFM_CUDA_LAUNCHED("GeluBackward");
}

template <typename T> void Exp(const T* x, T* y, int64_t n) {
  Map(x, y, n, ExpF{});
  VFM_CUDA_LAUNCHED("Exp");
}

template <typename T> void Log(const T* x, T* y, int64_t n) {
  Map(x, y, n, LogF{});
  VFM_CUDA_LAUNCHED("Log");
}

#define VFM_INSTANTIATE(T)                                                      \
  template void GeluForward<T>(const T*, T*, int64_t);                          \
  template void GeluBackward<T>(const T*, const T*, T*, int64_t);               \
  template void Exp<T>(const T*, T*, int64_t);                                  \
  template void Log<T>(const T*, T*, int64_t);
VFM_INSTANTIATE(float)
VFM_INSTANTIATE(bf16)
#undef VFM_INSTANTIATE

}  // namespace vfm::cuda

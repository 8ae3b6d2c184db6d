// Elementwise GELU (exact erf form, forward and backward), exp and log on the GPU. The math is in
// kernels/cpu/unary.h and the CPU loops (kernels/cpu/unary.cc, autograd/ops/unary.cc); the fp32
// expressions here are evaluated in the same order as the CPU's float ones, with the device's erff,
// expf and logf (the CPU's float GELU has its own vectorisable erf and exp, a few ulp from these), and
// bf16 inputs are widened to fp32 and the result rounded once.
// Work split: the contiguous maps of elementwise.cuh (8 elements per thread with 16-byte loads and
// stores, fp32 arithmetic per element): purely memory bound.
#include "kernels/cuda/unary.h"

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

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

// d/dx gelu(x) = Phi(x) + x phi(x), times the incoming gradient.
struct GeluBackwardF {
  __device__ float operator()(float dy, float v) const {
    const float cdf = 0.5f * (1.f + erff(v * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * expf(-0.5f * v * v);
    return dy * (cdf + v * pdf);
  }
};

}  // namespace

template <typename T> void GeluForward(const T* x, T* y, int64_t n) {
  LaunchMap1(Dev(x), Dev(y), n, GeluF{});
  VFM_CUDA_LAUNCHED("GeluForward");
}

template <typename T> void GeluBackward(const T* dy, const T* x, T* dx, int64_t n) {
  LaunchMap2(Dev(dy), Dev(x), Dev(dx), n, GeluBackwardF{});
  VFM_CUDA_LAUNCHED("GeluBackward");
}

template <typename T> void Exp(const T* x, T* y, int64_t n) {
  LaunchMap1(Dev(x), Dev(y), n, ExpF{});
  VFM_CUDA_LAUNCHED("Exp");
}

template <typename T> void Log(const T* x, T* y, int64_t n) {
  LaunchMap1(Dev(x), Dev(y), n, LogF{});
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

// AdamW, EMA and gradient-norm clipping: the math of kernels/cpu/adamw.h (see its comment).
// AdamW and EMA are elementwise: one thread per element (grid-stride), the step constants (decay,
// bias corrections) computed on the host in double and rounded to float exactly as the CPU does. The
// arithmetic uses explicitly rounded intrinsics (__fmul_rn, __fadd_rn, ...) so nvcc cannot contract it
// into FMAs: each operation rounds as the CPU's C++ expression does, in the same order.
// GradNorm: pass 1 runs min(1024, ceil(n / 1024)) blocks of 256 threads; each thread adds squares over a
// grid-stride loop, the block reduces with warp shuffles then shared memory, and writes one partial.
// Pass 2 (one block) adds the partials in a fixed order and takes the square root. No atomics, so the
// norm is bit-reproducible. ClipByNorm: every thread reads the norm and computes the same factor.
#include "kernels/cuda/adamw.h"

#include <algorithm>
#include <cmath>

#include "kernels/cuda/reduce.cuh"
#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

__global__ void AdamWKernel(float* p, const float* g, float* m, float* v, int64_t n, float decay, float b1, float b2,
                            float step_size, float bias2_sqrt, float eps, __nv_bfloat16* p_bf16) {
  const float one_minus_b1 = __fsub_rn(1.0f, b1), one_minus_b2 = __fsub_rn(1.0f, b2);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float gi = g[i];
    float pi = __fmul_rn(p[i], decay);                                                   // p *= decay
    const float mi = __fadd_rn(__fmul_rn(b1, m[i]), __fmul_rn(one_minus_b1, gi));        // b1 m + (1-b1) g
    const float vi = __fadd_rn(__fmul_rn(b2, v[i]), __fmul_rn(__fmul_rn(one_minus_b2, gi), gi));  // b2 v + (1-b2) g g
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bias2_sqrt), eps);           // sqrt(v)/bc2 + eps
    pi = __fsub_rn(pi, __fdiv_rn(__fmul_rn(step_size, mi), denom));                      // p -= step m / denom
    m[i] = mi;
    v[i] = vi;
    p[i] = pi;
    if (p_bf16) p_bf16[i] = __float2bfloat16(pi);
  }
}

__global__ void EmaKernel(float* teacher, const float* student, int64_t n, float a, float b) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    teacher[i] = __fadd_rn(__fmul_rn(a, teacher[i]), __fmul_rn(b, student[i]));
}

template <typename T>
__global__ void SquaresPartialKernel(const T* g, int64_t n, float* partials) {
  float acc = 0.f;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float x = ToFloat(g[i]);
    acc += x * x;
  }
  __shared__ float sums[32];
  acc = BlockSum(acc, sums);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void NormFinishKernel(const float* partials, int64_t count, float* norm) {
  float acc = 0.f;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
  __shared__ float sums[32];
  acc = BlockSum(acc, sums);
  if (threadIdx.x == 0) norm[0] = sqrtf(acc);
}

template <typename T>
__global__ void ClipKernel(T* g, int64_t n, double max_norm, const float* norm) {
  const double coef = max_norm / (double(norm[0]) + 1e-6);
  if (!(coef < 1.0)) return;  // as the CPU: scale only when the factor is below 1
  const float c = float(coef);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    g[i] = FromFloat<T>(__fmul_rn(ToFloat(g[i]), c));
}

}  // namespace

void AdamWUpdate(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s, bf16* p_bf16) {
  if (n <= 0) return;
  // The constants exactly as cpu::AdamWUpdate forms them.
  const float decay = float(1.0 - s.lr * s.weight_decay);
  const float b1 = float(s.beta1), b2 = float(s.beta2);
  const float step_size = float(s.lr / (1.0 - std::pow(s.beta1, double(s.step))));
  const float bias2_sqrt = float(std::sqrt(1.0 - std::pow(s.beta2, double(s.step))));
  const float eps = float(s.eps);
  AdamWKernel<<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(p, g, m, v, n, decay, b1, b2, step_size,
                                                                         bias2_sqrt, eps, Dev(p_bf16));
  VFM_CUDA_LAUNCHED("AdamWKernel");
}

void EmaUpdate(float* teacher, const float* student, int64_t n, double momentum) {
  if (n <= 0) return;
  const float a = float(momentum), b = float(1.0 - momentum);
  EmaKernel<<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(teacher, student, n, a, b);
  VFM_CUDA_LAUNCHED("EmaKernel");
}

template <typename T>
void GradNorm(const T* g, int64_t n, float* partials, float* norm) {
  constexpr int64_t kPerThread = 4 * kGridStrideThreads;  // at least 4 elements per thread
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(kGradNormPartials, (n + kPerThread - 1) / kPerThread));
  SquaresPartialKernel<<<unsigned(blocks), kGridStrideThreads, 0, Compute()>>>(Dev(g), std::max<int64_t>(n, 0),
                                                                              partials);
  VFM_CUDA_LAUNCHED("SquaresPartialKernel");
  NormFinishKernel<<<1, kGridStrideThreads, 0, Compute()>>>(partials, blocks, norm);
  VFM_CUDA_LAUNCHED("NormFinishKernel");
}

template <typename T>
void ClipByNorm(T* g, int64_t n, double max_norm, const float* norm) {
  if (n <= 0) return;
  ClipKernel<<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(Dev(g), n, max_norm, norm);
  VFM_CUDA_LAUNCHED("ClipKernel");
}

template void GradNorm<float>(const float*, int64_t, float*, float*);
template void GradNorm<bf16>(const bf16*, int64_t, float*, float*);
template void ClipByNorm<float>(float*, int64_t, double, const float*);
template void ClipByNorm<bf16>(bf16*, int64_t, double, const float*);

}  // namespace vfm::cuda

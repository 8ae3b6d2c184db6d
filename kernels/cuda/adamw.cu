// AdamW, EMA and gradient-norm clipping: the math of kernels/cpu/adamw.h (see its comment).
// Each launch takes up to kMaxTensorsPerLaunch tensors, passed by value in a kernel parameter:
// blockIdx.y picks the tensor, blockIdx.x and threadIdx.x stride over its elements (blocks beyond a
// small tensor's work exit at once).
// AdamW and EMA are elementwise, the step constants (decay, bias corrections) computed on the host in
// double and rounded to float exactly as the CPU does. The arithmetic uses explicitly rounded
// intrinsics (__fmul_rn, __fadd_rn, ...) so nvcc cannot contract it into FMAs: each operation rounds as
// the CPU's C++ expression does, in the same order (the CPU build itself may fuse some into FMAs: an ulp
// apart there; checked bit for bit against an unfused CPU build on a CPU emulation of these kernels).
// GradSquaredNorms: pass 1 gives tensor k min(1024, ceil(n / 1024)) blocks of 256 threads; each thread
// adds squares over a stride loop, the block reduces with warp shuffles then shared memory, and writes one
// partial. Pass 2 (one block per tensor) adds its partials in a fixed order. No atomics, so the sums are
// bit-reproducible. ClipBySquaredNorms: every thread of a tensor reads its squared norm and computes the
// same factor.
#include "kernels/cuda/adamw.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "kernels/cuda/warp_reduce.cuh"
#include "kernels/cuda/runtime.cuh"
#include "kernels/error.h"

namespace vfm::cuda {
namespace {

// Blocks per tensor for the elementwise kernels: enough for the largest tensor, at most this many
// (each thread then loops over several elements of a large tensor).
constexpr int64_t kMaxBlocksPerTensor = 256;

// The launch grid for a batch whose largest tensor has `most` elements.
dim3 BatchGrid(int64_t most, int size) {
  return dim3(unsigned(std::min<int64_t>(GridStrideBlocks(most), kMaxBlocksPerTensor)), unsigned(size));
}

struct AdamWBatch {
  float* p[kMaxTensorsPerLaunch];
  const float* g[kMaxTensorsPerLaunch];
  float* m[kMaxTensorsPerLaunch];
  float* v[kMaxTensorsPerLaunch];
  int64_t n[kMaxTensorsPerLaunch];
  float decay[kMaxTensorsPerLaunch], step_size[kMaxTensorsPerLaunch], bias2_sqrt[kMaxTensorsPerLaunch];
  float b1, b2, eps;
};

__global__ void AdamWKernel(const AdamWBatch batch) {
  const int k = blockIdx.y;
  float *p = batch.p[k], *m = batch.m[k], *v = batch.v[k];
  const float* g = batch.g[k];
  const float decay = batch.decay[k], step_size = batch.step_size[k], bias2_sqrt = batch.bias2_sqrt[k];
  const float b1 = batch.b1, b2 = batch.b2, eps = batch.eps;
  const float one_minus_b1 = __fsub_rn(1.0f, b1), one_minus_b2 = __fsub_rn(1.0f, b2);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < batch.n[k];
       i += int64_t(gridDim.x) * blockDim.x) {
    const float gi = g[i];
    float pi = __fmul_rn(p[i], decay);                                                   // p *= decay
    const float mi = __fadd_rn(__fmul_rn(b1, m[i]), __fmul_rn(one_minus_b1, gi));        // b1 m + (1-b1) g
    const float vi = __fadd_rn(__fmul_rn(b2, v[i]), __fmul_rn(__fmul_rn(one_minus_b2, gi), gi));  // b2 v + (1-b2) g g
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bias2_sqrt), eps);           // sqrt(v)/bc2 + eps
    pi = __fsub_rn(pi, __fdiv_rn(__fmul_rn(step_size, mi), denom));                      // p -= step m / denom
    m[i] = mi;
    v[i] = vi;
    p[i] = pi;
  }
}

struct EmaBatch {
  float* teacher[kMaxTensorsPerLaunch];
  const float* student[kMaxTensorsPerLaunch];
  int64_t n[kMaxTensorsPerLaunch];
  float a, b;
};

__global__ void EmaKernel(const EmaBatch batch) {
  const int k = blockIdx.y;
  float* teacher = batch.teacher[k];
  const float* student = batch.student[k];
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < batch.n[k];
       i += int64_t(gridDim.x) * blockDim.x)
    teacher[i] = __fadd_rn(__fmul_rn(batch.a, teacher[i]), __fmul_rn(batch.b, student[i]));
}

// The tensors of one GradSquaredNorms launch; `first` is the batch's index in the caller's list (the offset
// of its norms and partials).
struct NormBatch {
  const float* g[kMaxTensorsPerLaunch];
  int64_t n[kMaxTensorsPerLaunch];
  int64_t blocks[kMaxTensorsPerLaunch];  // pass 1 blocks of each tensor
  int first;
};

// The tensors of one ClipBySquaredNorms launch (`first` as above).
struct ClipBatch {
  float* g[kMaxTensorsPerLaunch];
  int64_t n[kMaxTensorsPerLaunch];
  int first;
};

// Pass 1 blocks of a tensor of n elements: at least 4 elements per thread, at most kGradNormPartials.
int64_t NormBlocks(int64_t n) {
  constexpr int64_t kPerBlock = 4 * kGridStrideThreads;
  return std::max<int64_t>(1, std::min<int64_t>(kGradNormPartials, (n + kPerBlock - 1) / kPerBlock));
}

__global__ void SquaresPartialKernel(const NormBatch batch, float* partials) {
  const int k = blockIdx.y;
  const int64_t blocks = batch.blocks[k];
  if (blockIdx.x >= blocks) return;  // uniform across the block
  const float* g = batch.g[k];
  float acc = 0.f;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < batch.n[k]; i += blocks * blockDim.x)
    acc += g[i] * g[i];
  __shared__ float sums[32];
  acc = BlockSum(acc, sums);
  if (threadIdx.x == 0) partials[(batch.first + k) * kGradNormPartials + blockIdx.x] = acc;
}

// One block per tensor (blockIdx.x).
__global__ void NormFinishKernel(const NormBatch batch, const float* partials, float* squared_norms) {
  const int k = blockIdx.x;
  const float* mine = partials + (batch.first + k) * kGradNormPartials;
  float acc = 0.f;
  for (int64_t i = threadIdx.x; i < batch.blocks[k]; i += blockDim.x) acc += mine[i];
  __shared__ float sums[32];
  acc = BlockSum(acc, sums);
  if (threadIdx.x == 0) squared_norms[batch.first + k] = acc;
}

__global__ void ClipKernel(const ClipBatch batch, double max_norm, const float* squared_norms) {
  const int k = blockIdx.y;
  const double coef = max_norm / (double(sqrtf(squared_norms[batch.first + k])) + 1e-6);
  if (!(coef < 1.0)) return;  // as the CPU: scale only when the factor is below 1
  const float c = float(coef);
  float* g = batch.g[k];
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < batch.n[k];
       i += int64_t(gridDim.x) * blockDim.x)
    g[i] = __fmul_rn(g[i], c);
}

// The tensors [first, first + size) of a list of count, in launches of kMaxTensorsPerLaunch.
template <typename F>
void ForEachBatch(int count, F launch) {
  for (int first = 0; first < count; first += kMaxTensorsPerLaunch)
    launch(first, std::min(kMaxTensorsPerLaunch, count - first));
}

}  // namespace

void AdamWUpdate(const AdamWTensor* tensors, int count) {
  ForEachBatch(count, [&](int first, int size) {
    AdamWBatch batch = {};
    const AdamWStep& s0 = tensors[first].step;
    batch.b1 = float(s0.beta1), batch.b2 = float(s0.beta2), batch.eps = float(s0.eps);
    int64_t most = 0;
    for (int k = 0; k < size; ++k) {
      const AdamWTensor& t = tensors[first + k];
      const AdamWStep& s = t.step;
      if (s.beta1 != s0.beta1 || s.beta2 != s0.beta2 || s.eps != s0.eps)
        throw Error("AdamWUpdate: tensors of one call with different betas or eps");
      batch.p[k] = t.p, batch.g[k] = t.g, batch.m[k] = t.m, batch.v[k] = t.v, batch.n[k] = std::max<int64_t>(t.n, 0);
      // The constants exactly as cpu::AdamWUpdate forms them.
      batch.decay[k] = float(1.0 - s.lr * s.weight_decay);
      batch.step_size[k] = float(s.lr / (1.0 - std::pow(s.beta1, double(s.step))));
      batch.bias2_sqrt[k] = float(std::sqrt(1.0 - std::pow(s.beta2, double(s.step))));
      most = std::max(most, batch.n[k]);
    }
    AdamWKernel<<<BatchGrid(most, size), kGridStrideThreads, 0, Compute()>>>(batch);
    VFM_CUDA_LAUNCHED("AdamWKernel");
  });
}

void EmaUpdate(const EmaTensor* tensors, int count, double momentum) {
  ForEachBatch(count, [&](int first, int size) {
    EmaBatch batch = {};
    batch.a = float(momentum), batch.b = float(1.0 - momentum);
    int64_t most = 0;
    for (int k = 0; k < size; ++k) {
      batch.teacher[k] = tensors[first + k].teacher;
      batch.student[k] = tensors[first + k].student;
      batch.n[k] = std::max<int64_t>(tensors[first + k].n, 0);
      most = std::max(most, batch.n[k]);
    }
    EmaKernel<<<BatchGrid(most, size), kGridStrideThreads, 0, Compute()>>>(batch);
    VFM_CUDA_LAUNCHED("EmaKernel");
  });
}

void GradSquaredNorms(const float* const* g, const int64_t* n, int count, float* partials, float* squared_norms) {
  ForEachBatch(count, [&](int first, int size) {
    NormBatch batch = {};
    batch.first = first;
    int64_t most_blocks = 1;
    for (int k = 0; k < size; ++k) {
      batch.g[k] = g[first + k];
      batch.n[k] = std::max<int64_t>(n[first + k], 0);
      batch.blocks[k] = NormBlocks(batch.n[k]);
      most_blocks = std::max(most_blocks, batch.blocks[k]);
    }
    SquaresPartialKernel<<<dim3(unsigned(most_blocks), unsigned(size)), kGridStrideThreads, 0, Compute()>>>(batch,
                                                                                                      partials);
    VFM_CUDA_LAUNCHED("SquaresPartialKernel");
    NormFinishKernel<<<unsigned(size), kGridStrideThreads, 0, Compute()>>>(batch, partials, squared_norms);
    VFM_CUDA_LAUNCHED("NormFinishKernel");
  });
}

void ClipBySquaredNorms(float* const* g, const int64_t* n, int count, double max_norm, const float* squared_norms) {
  ForEachBatch(count, [&](int first, int size) {
    ClipBatch batch = {};
    batch.first = first;
    int64_t most = 0;
    for (int k = 0; k < size; ++k) {
      batch.g[k] = g[first + k];
      batch.n[k] = std::max<int64_t>(n[first + k], 0);
      most = std::max(most, batch.n[k]);
    }
    ClipKernel<<<BatchGrid(most, size), kGridStrideThreads, 0, Compute()>>>(batch, max_norm, squared_norms);
    VFM_CUDA_LAUNCHED("ClipKernel");
  });
}

}  // namespace vfm::cuda

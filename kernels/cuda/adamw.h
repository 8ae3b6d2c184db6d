// Optimizer kernels on the GPU: fused AdamW and the EMA teacher update exactly as kernels/cpu/adamw.h
// computes them (same fp32 constants, same operation order), and per-tensor gradient clipping in two
// device-side steps (no host synchronisation): GradNorm writes ||g||_2 into device memory, ClipByNorm
// reads it there and scales g by max_norm / (norm + 1e-6) when that is below 1 (DINO/iBOT's
// per-parameter clip; trainer/adamw.cc ClipGradientsPerParameter is the CPU version).
#pragma once
#include <cstdint>

#include "kernels/bf16.h"
#include "kernels/cpu/adamw.h"

namespace vfm::cuda {

using AdamWStep = cpu::AdamWStep;

// p, g, m, v: fp32 device arrays of n elements. When p_bf16 is not null it also receives the updated
// parameters rounded to bf16 (the copy the bf16 forward reads).
void AdamWUpdate(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& step,
                 bf16* p_bf16 = nullptr);

// teacher <- momentum * teacher + (1 - momentum) * student.
void EmaUpdate(float* teacher, const float* student, int64_t n, double momentum);

// The first pass of GradNorm writes at most this many partial sums.
constexpr int64_t kGradNormPartials = 1024;

// norm[0] = sqrt(sum g^2): fp32 accumulation, deterministic (the block count depends only on n, the
// partials are added in a fixed order). `partials`: device scratch of kGradNormPartials floats;
// `norm`: one device float. T = float or bf16.
template <typename T>
void GradNorm(const T* g, int64_t n, float* partials, float* norm);

// g *= float(max_norm / (norm[0] + 1e-6)) when that factor is below 1 (norm[0] read on the device).
template <typename T>
void ClipByNorm(T* g, int64_t n, double max_norm, const float* norm);

}  // namespace vfm::cuda

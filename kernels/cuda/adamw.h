// Optimizer kernels on the GPU: fused AdamW and the EMA teacher update as kernels/cpu/adamw.h computes
// them (same fp32 constants, same operation order, each operation rounded: bit-identical to a CPU build
// that does not fuse multiply-adds; the -O3 -march=x86-64-v3 build does, and is then a few ulp apart),
// and per-tensor gradient clipping in two device-side steps (no host synchronisation): GradSquaredNorms
// writes each ||g||_2^2 into device memory, ClipBySquaredNorms reads them there and scales each g by
// max_norm / (norm + 1e-6) when that is below 1 (DINO/iBOT's per-parameter clip; AdamW::ClipGradients in
// trainer/adamw.cc is the CPU version). Squared norms, so that those of a parameter's parts on several
// ranks (ZeRO-1) can be summed in between.
//
// Every call takes a list of tensors and updates them in one launch per kMaxTensorsPerLaunch: a ViT-B
// and its head have ~160 parameter tensors, and one launch per tensor and kernel (AdamW, EMA, norm,
// clip) cost 2.5 ms of the H200 step in ~800 tiny kernels.
#pragma once
#include <cstdint>

#include "kernels/cpu/adamw.h"

namespace vfm::cuda {

constexpr int kMaxTensorsPerLaunch = 64;

using AdamWStep = cpu::AdamWStep;

// One parameter's update: fp32 device arrays of n elements and its step (lr, decay, step count).
struct AdamWTensor {
  float* p;
  const float* g;
  float* m;
  float* v;
  int64_t n;
  AdamWStep step;
};
// The tensors' beta1, beta2 and eps must be equal (one optimizer's settings).
void AdamWUpdate(const AdamWTensor* tensors, int count);

// teacher <- momentum * teacher + (1 - momentum) * student, per tensor.
struct EmaTensor {
  float* teacher;
  const float* student;
  int64_t n;
};
void EmaUpdate(const EmaTensor* tensors, int count, double momentum);

// Pass 1 of GradSquaredNorms writes at most this many partial sums per tensor.
constexpr int64_t kGradNormPartials = 1024;

// squared_norms[k] = sum g[k]^2 for count fp32 tensors of n[k] elements (0 for n[k] = 0, whose g[k] is
// not read): fp32 accumulation, deterministic (each tensor's block count depends only on its n, partials
// are added in a fixed order). `partials`: device scratch of count * kGradNormPartials floats;
// `squared_norms`: count device floats.
void GradSquaredNorms(const float* const* g, const int64_t* n, int count, float* partials, float* squared_norms);

// g[k] *= float(max_norm / (sqrtf(squared_norms[k]) + 1e-6)) where that factor is below 1 (read on the
// device).
void ClipBySquaredNorms(float* const* g, const int64_t* n, int count, double max_norm, const float* squared_norms);

}  // namespace vfm::cuda

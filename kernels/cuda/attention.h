// Multi-head self-attention on the GPU, unfused: cuBLASLt GEMMs plus row kernels (the math, layouts and
// shapes of kernels/cpu/attention.h: qkv [B, N, 3, H, D], out [B, N, H, D], lse [B, H, N]).
// Differences from the CPU signatures: lse is always fp32 (a bf16 logsumexp would put percent-level
// errors into the recomputed P), scale is a float, and the caller passes device scratch memory of at
// least the size the *ScratchBytes function gives for the same shape and type (the op allocates it as a
// tensor, so it comes from the caching allocator; it need only live until the call's work has been
// queued, as everything runs on the compute stream). T = float or bf16.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/bf16.h"
#include "kernels/cpu/attention.h"

namespace vfm::cuda {

using AttentionShape = cpu::AttentionShape;

template <typename T>
size_t AttentionForwardScratchBytes(AttentionShape shape);
template <typename T>
size_t AttentionBackwardScratchBytes(AttentionShape shape);

template <typename T>
void AttentionForward(const T* qkv, T* out, float* lse, AttentionShape shape, float scale, void* scratch);

// dqkv is overwritten. `out` and `lse` are the forward's results.
template <typename T>
void AttentionBackward(const T* qkv, const T* out, const T* dout, const float* lse, T* dqkv, AttentionShape shape,
                       float scale, void* scratch);

}  // namespace vfm::cuda

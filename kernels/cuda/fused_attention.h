// Fused multi-head self-attention for bf16 on the GPU (FlashAttention-2 style: nothing N x N is ever
// stored). The math, layouts and shapes of kernels/cpu/attention.h: qkv [B, N, 3, H, D] (row stride
// 3*H*D), out [B, N, H, D], lse [B, H, N] (natural log, fp32 as in kernels/cuda/attention.h), non-causal,
// any N >= 1. Only some head dims are compiled (FusedAttentionSupported); for the others the caller uses
// the unfused kernels of kernels/cuda/attention.h. bf16 pointers must be 16-byte aligned (tensor storage is;
// a view with an odd offset is not): the functions throw vfm::Error for an unsupported head dim,
// a misaligned pointer, or more than 65535 heads or batches.
// Everything runs on the compute stream; results are deterministic (no atomics).
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/bf16.h"

namespace vfm::cuda {

// True for the head dims the fused kernels are compiled for (32 and 64).
bool FusedAttentionSupported(int64_t head_dim);

// out = softmax(scale Q K^T) V per (batch, head), lse = log sum_j exp(scale Q K^T).
void FusedAttentionForward(const bf16* qkv, bf16* out, float* lse, int64_t batch, int64_t tokens, int64_t heads,
                           int64_t head_dim, float scale);

// The same forward for Hopper (sm_90a: TMA and wgmma), head dim 64 only, on an sm_90 device (else it throws);
// same results within rounding (the order of the fp32 sums differs). Checked on the CPU emulator (tests/emu);
// not yet run on a GPU (tests/gpu/fused_attention_test.cc and bench_attention's hopper_fwd will), so nothing
// calls it in training until it has been, measured against FusedAttentionForward.
void FusedAttentionForwardHopper(const bf16* qkv, bf16* out, float* lse, int64_t batch, int64_t tokens,
                                 int64_t heads, int64_t head_dim, float scale);

// Device scratch the backward needs (the fp32 D_i = rowsum(dO * O) of every row, [B, H, N]).
size_t FusedAttentionBackwardScratchBytes(int64_t batch, int64_t tokens, int64_t heads);

// dqkv (same packed layout as qkv) is overwritten entirely. `out` and `lse` are the forward's results;
// scratch holds at least FusedAttentionBackwardScratchBytes and need only live until the work is queued.
void FusedAttentionBackward(const bf16* qkv, const bf16* out, const bf16* dout, const float* lse, bf16* dqkv,
                            int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, float scale,
                            void* scratch);

// The same backward for Hopper (sm_90a: TMA and wgmma), head dim 64 only, on an sm_90 device (else it throws),
// with the same arguments, scratch and decomposition (deterministic, no atomics); same results within rounding.
// Checked on the CPU emulator (tests/emu); not yet run on a GPU (tests/gpu/fused_attention_test.cc and
// bench_attention's hopper_bwd will), so nothing calls it in training until it has been, measured against
// FusedAttentionBackward.
void FusedAttentionBackwardHopper(const bf16* qkv, const bf16* out, const bf16* dout, const float* lse, bf16* dqkv,
                                  int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, float scale,
                                  void* scratch);

}  // namespace vfm::cuda

// Per-sample token gathers on the GPU (autograd/ops/tokens.cc: GatherTokens). Concat needs no kernel
// of its own: it copies into slices of its output with Tensor::CopyFrom, which runs on the device.
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace vfm::cuda {

// y[b, m, :] = x[b, index[b, m], :] for x [B, N, D], index [B, M] (i64, on the device), y [B, M, D].
// Indices are not range-checked on the host (that would mean reading them back); a row whose index
// is outside [0, N) comes out as zeros (and receives nothing in the backward) instead of reading
// out of bounds. The op checks host-side indices before uploading them.
template <typename T>
void GatherTokensForward(const T* x, const int64_t* index, T* y, int64_t B, int64_t N, int64_t M, int64_t D);

// dx[b, index[b, m], :] += dy[b, m, :]; dx must be zeroed (or hold what to add to) beforehand.
// Uses atomicAdd: with unique indices per sample (the model's masked-token indices are) every element
// of dx receives at most one addition, so the result is exact and deterministic; repeated indices
// are summed correctly, in an unspecified order.
template <typename T>
void GatherTokensBackward(const T* dy, const int64_t* index, T* dx, int64_t B, int64_t N, int64_t M, int64_t D);

}  // namespace vfm::cuda

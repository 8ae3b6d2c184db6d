// Multi-head self-attention on the packed qkv projection (no transpose copies).
// Layout: qkv [B, N, 3, H, D] (row stride 3*H*D), out [B, N, H, D] (row stride H*D), lse [B, H, N].
// Per (batch, head), with s = scale:
//   S = s * Q K^T,  lse_i = log sum_j exp(S_ij),  P = exp(S - lse),  O = P V
// Backward, recomputing P from lse (nothing N x N is saved):
//   dV = P^T dO,  dP = dO V^T,  D_i = sum_d dO_id O_id,  dS = P * (dP - D),  dQ = s dS K,  dK = s dS^T Q
// Each (batch, head) is one task; its N x N scratch lives only during that task.
#pragma once
#include <cstdint>

namespace vfm::cpu {

struct AttentionShape {
  int64_t batch, tokens, heads, head_dim;
};

template <typename T>
void AttentionForward(const T* qkv, T* out, T* lse, AttentionShape shape, T scale);

// dqkv is overwritten.
template <typename T>
void AttentionBackward(const T* qkv, const T* out, const T* dout, const T* lse, T* dqkv, AttentionShape shape,
                       T scale);

}  // namespace vfm::cpu

// Unfused multi-head self-attention: the math of kernels/cpu/attention.h (see its comment), per
// (batch, head) with s = scale:
//   S = s Q K^T,  lse_i = log sum_j exp(S_ij),  P = exp(S - lse),  O = P V
//   backward (P recomputed from lse): dV = P^T dO,  dP = dO V^T,  D_i = sum_d dO_id O_id,
//   dS = P * (dP - D),  dQ = s dS K,  dK = s dS^T Q.
//
// How the work is split: the packed layout [B, N, 3, H, D] puts head h of batch b at offset
// b*N*3C + h*D (C = H*D): the batch stride is uniform but the (batch, head) stride is not, so each
// GEMM is a strided-batched cuBLASLt call over the B batches of one head (lda = 3C, batch stride N*3C;
// no transpose copies), and the host loops over the H heads. The N x N scratch therefore holds one head
// ([B, N, ld] with ld = N rounded up to 8, so bf16 rows stay 16-byte aligned) and is reused by the next
// head (stream order makes that safe): S and dP in fp32; for bf16, P and dS are also stored as bf16 (the
// GEMM operands); for fp32, P overwrites S and dS overwrites dP in place.
// Row kernels use one warp per row (8 warps per 256-thread block): the softmax keeps a running
// (max, sum) per lane over j = lane, lane+32, ... and merges the 32 pairs with shuffles (fp32; every lane
// ends with the same values), then writes P = exp(S - lse). D_i = rowsum(dO * O) is one warp per
// (b, n, h) row of D contiguous elements, computed once for all heads.
#include "kernels/cuda/attention.h"

#include <type_traits>

#include "kernels/cuda/matmul.h"
#include "kernels/cuda/warp_reduce.cuh"
#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kThreads = 32 * kWarpsPerBlock;

// Byte offsets of the scratch buffers (each 256-byte aligned).
struct ScratchLayout {
  int64_t ld = 0;  // leading dimension of an N x N scratch matrix
  size_t s = 0, p = 0, dp = 0, ds = 0, drow = 0, total = 0;
};

size_t Carve(size_t* total, size_t bytes) {
  const size_t offset = *total;
  *total += (bytes + 255) / 256 * 256;
  return offset;
}

template <typename T>
ScratchLayout LayoutFor(const AttentionShape& sh, bool backward) {
  constexpr bool kF32 = std::is_same_v<T, float>;
  ScratchLayout L;
  L.ld = (sh.tokens + 7) / 8 * 8;
  const size_t mat = size_t(sh.batch) * size_t(sh.tokens) * size_t(L.ld);  // one head: [B, N, ld]
  size_t total = 0;
  L.s = Carve(&total, mat * sizeof(float));
  L.p = kF32 ? L.s : Carve(&total, mat * sizeof(T));
  if (backward) {
    L.dp = Carve(&total, mat * sizeof(float));
    L.ds = kF32 ? L.dp : Carve(&total, mat * sizeof(T));
    L.drow = Carve(&total, size_t(sh.batch) * size_t(sh.heads) * size_t(sh.tokens) * sizeof(float));
  }
  L.total = total;
  return L;
}

// Row r = b*N + i of head h's scores S [B*N, ld]: P = exp(S - lse), lse[b, h, i] = log sum exp S.
// For fp32, P may be S itself (each element is read before the same lane overwrites it).
template <typename TP>
__global__ void SoftmaxRowsKernel(const float* S, TP* P, float* lse, int64_t B, int64_t N, int64_t H, int64_t h,
                                  int64_t ld) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= B * N) return;  // row is the same for the whole warp
  const float* s = S + row * ld;
  float m = -INFINITY, sum = 0.f;
  for (int64_t j = lane; j < N; j += 32) {
    const float x = s[j];
    if (x > m) {
      sum = sum * expf(m - x) + 1.f;  // expf(-inf) = 0 on the first element
      m = x;
    } else {
      sum += expf(x - m);
    }
  }
  for (int off = 16; off > 0; off >>= 1) {  // merge (max, sum) pairs; lanes without elements hold (-inf, 0)
    const float m2 = __shfl_xor_sync(0xffffffffu, m, off);
    const float s2 = __shfl_xor_sync(0xffffffffu, sum, off);
    const float mn = fmaxf(m, m2);
    sum = (m == -INFINITY ? 0.f : sum * expf(m - mn)) + (m2 == -INFINITY ? 0.f : s2 * expf(m2 - mn));
    m = mn;
  }
  const float l = m + logf(sum);
  const int64_t b = row / N, i = row % N;
  if (lane == 0) lse[(b * H + h) * N + i] = l;
  TP* p = P + row * ld;
  for (int64_t j = lane; j < N; j += 32) p[j] = FromFloat<TP>(expf(s[j] - l));
}

// drow[b, h, i] = sum_d dO[b, i, h, d] * O[b, i, h, d]; one warp per row r = (b*N + i)*H + h.
template <typename T>
__global__ void RowDotKernel(const T* dout, const T* out, float* drow, int64_t B, int64_t N, int64_t H,
                             int64_t D) {
  const int64_t r = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= B * N * H) return;
  const T* a = dout + r * D;
  const T* o = out + r * D;
  float acc = 0.f;
  for (int64_t d = lane; d < D; d += 32) acc += ToFloat(a[d]) * ToFloat(o[d]);
  acc = WarpSum(acc);
  if (lane == 0) {
    const int64_t h = r % H, i = (r / H) % N, b = r / (H * N);
    drow[(b * H + h) * N + i] = acc;
  }
}

// Row r = b*N + i of head h: P = exp(S - lse), dS = P * (dP - D). For fp32, P may alias S and dS may
// alias dP (each element is read before it is written, by the same lane).
template <typename TP>
__global__ void SoftmaxBackwardRowsKernel(const float* S, const float* dP, const float* lse, const float* drow,
                                          TP* P, TP* dS, int64_t B, int64_t N, int64_t H, int64_t h, int64_t ld) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= B * N) return;
  const int64_t b = row / N, i = row % N;
  const float l = lse[(b * H + h) * N + i];
  const float d = drow[(b * H + h) * N + i];
  for (int64_t j = lane; j < N; j += 32) {
    const int64_t e = row * ld + j;
    const float p = expf(S[e] - l);
    const float ds = p * (dP[e] - d);
    P[e] = FromFloat<TP>(p);
    dS[e] = FromFloat<TP>(ds);
  }
}

}  // namespace

template <typename T>
size_t AttentionForwardScratchBytes(AttentionShape shape) {
  return LayoutFor<T>(shape, false).total;
}

template <typename T>
size_t AttentionBackwardScratchBytes(AttentionShape shape) {
  return LayoutFor<T>(shape, true).total;
}

template <typename T>
void AttentionForward(const T* qkv, T* out, float* lse, AttentionShape sh, float scale, void* scratch) {
  const int64_t B = sh.batch, N = sh.tokens, H = sh.heads, D = sh.head_dim, C = H * D;
  if (B <= 0 || N <= 0 || H <= 0) return;
  const ScratchLayout L = LayoutFor<T>(sh, false);
  char* base = static_cast<char*>(scratch);
  float* S = reinterpret_cast<float*>(base + L.s);
  T* P = reinterpret_cast<T*>(base + L.p);
  const int64_t ld = L.ld, mat = N * ld, row3 = 3 * C;
  const unsigned blocks = BlocksFor(B * N, kWarpsPerBlock);
  for (int64_t h = 0; h < H; ++h) {
    const T* q = qkv + h * D;
    const T* k = q + C;
    const T* v = q + 2 * C;
    // S_b = s Q_b K_b^T  [N, N], fp32.
    GemmStridedBatched<T, float>(false, true, N, N, D, scale, q, row3, N * row3, k, row3, N * row3, 0.f, S, ld, mat,
                                 B);
    SoftmaxRowsKernel<<<blocks, kThreads, 0, Compute()>>>(S, Dev(P), lse, B, N, H, h, ld);
    VFM_CUDA_LAUNCHED("SoftmaxRowsKernel");
    // O_b = P_b V_b  [N, D] into out[b, :, h, :].
    GemmStridedBatched<T, T>(false, false, N, D, N, 1.f, P, ld, mat, v, row3, N * row3, 0.f, out + h * D, C, N * C,
                             B);
  }
}

template <typename T>
void AttentionBackward(const T* qkv, const T* out, const T* dout, const float* lse, T* dqkv, AttentionShape sh,
                       float scale, void* scratch) {
  const int64_t B = sh.batch, N = sh.tokens, H = sh.heads, D = sh.head_dim, C = H * D;
  if (B <= 0 || N <= 0 || H <= 0) return;
  const ScratchLayout L = LayoutFor<T>(sh, true);
  char* base = static_cast<char*>(scratch);
  float* S = reinterpret_cast<float*>(base + L.s);
  float* dP = reinterpret_cast<float*>(base + L.dp);
  T* P = reinterpret_cast<T*>(base + L.p);
  T* dS = reinterpret_cast<T*>(base + L.ds);
  float* drow = reinterpret_cast<float*>(base + L.drow);
  const int64_t ld = L.ld, mat = N * ld, row3 = 3 * C;

  RowDotKernel<<<BlocksFor(B * N * H, kWarpsPerBlock), kThreads, 0, Compute()>>>(Dev(dout), Dev(out), drow, B, N, H,
                                                                                 D);
  VFM_CUDA_LAUNCHED("RowDotKernel");
  const unsigned blocks = BlocksFor(B * N, kWarpsPerBlock);
  for (int64_t h = 0; h < H; ++h) {
    const T* q = qkv + h * D;
    const T* k = q + C;
    const T* v = q + 2 * C;
    const T* dO = dout + h * D;
    T* dq = dqkv + h * D;
    T* dk = dq + C;
    T* dv = dq + 2 * C;
    // S = s Q K^T and dP = dO V^T, fp32.
    GemmStridedBatched<T, float>(false, true, N, N, D, scale, q, row3, N * row3, k, row3, N * row3, 0.f, S, ld, mat,
                                 B);
    GemmStridedBatched<T, float>(false, true, N, N, D, 1.f, dO, C, N * C, v, row3, N * row3, 0.f, dP, ld, mat, B);
    SoftmaxBackwardRowsKernel<<<blocks, kThreads, 0, Compute()>>>(S, dP, lse, drow, Dev(P), Dev(dS), B, N, H, h, ld);
    VFM_CUDA_LAUNCHED("SoftmaxBackwardRowsKernel");
    // dV = P^T dO, dQ = s dS K, dK = s dS^T Q, each [N, D] into its slot of dqkv.
    GemmStridedBatched<T, T>(true, false, N, D, N, 1.f, P, ld, mat, dO, C, N * C, 0.f, dv, row3, N * row3, B);
    GemmStridedBatched<T, T>(false, false, N, D, N, scale, dS, ld, mat, k, row3, N * row3, 0.f, dq, row3, N * row3, B);
    GemmStridedBatched<T, T>(true, false, N, D, N, scale, dS, ld, mat, q, row3, N * row3, 0.f, dk, row3, N * row3, B);
  }
}

template size_t AttentionForwardScratchBytes<float>(AttentionShape);
template size_t AttentionForwardScratchBytes<bf16>(AttentionShape);
template size_t AttentionBackwardScratchBytes<float>(AttentionShape);
template size_t AttentionBackwardScratchBytes<bf16>(AttentionShape);
template void AttentionForward<float>(const float*, float*, float*, AttentionShape, float, void*);
template void AttentionForward<bf16>(const bf16*, bf16*, float*, AttentionShape, float, void*);
template void AttentionBackward<float>(const float*, const float*, const float*, const float*, float*, AttentionShape,
                                       float, void*);
template void AttentionBackward<bf16>(const bf16*, const bf16*, const bf16*, const float*, bf16*, AttentionShape,
                                      float, void*);

}  // namespace vfm::cuda

// Fused bf16 multi-head self-attention, forward and backward, FlashAttention-2 style, on mma.sync tensor
// cores (m16n8k16, bf16 in, fp32 accumulate): one source for sm_80 and sm_90a; and a forward and a backward
// for sm_90a alone on TMA and wgmma ("Forward on Hopper", "Backward on Hopper" below).
//
// The math is that of kernels/cpu/attention.h (see its comment); per (batch b, head h), s = scale:
//   S = s Q K^T,  lse_i = log sum_j exp(S_ij),  P = exp(S - lse),  O = P V
//   backward: dV = P^T dO,  dP = dO V^T,  D_i = sum_d dO_id O_id,  dS = P * (dP - D),
//             dQ = s dS K,  dK = s dS^T Q.
// Nothing N x N is stored: scores live in registers, one 64 x 64 tile at a time. Exponentials are exp2
// with log2(e) folded into the scale (c = s log2 e): the forward keeps a running row max m and row sum
// l of 2^(c S - m) (online softmax: when m grows, l and the O accumulator are multiplied by
// 2^(m_old - m_new)), and at the end O /= l and lse = (m + log2 l) ln 2 (natural log, like the CPU's).
// The backward recomputes P = 2^(c S - lse log2 e) from the saved lse.
//
// How the work is split (and why):
// - Every kernel: 128 threads = 4 warps per CTA; a CTA owns one 64-row tile of one (head, batch):
//   grid (ceil(N/64), H, B). Each warp owns 16 of the 64 rows, i.e. the M = 16 of the mma; a warp never
//   needs another warp's rows, so the only block-wide syncs are around the shared K/V (or Q/dO) tiles.
// - Forward: the CTA's Q tile (64 x D) is staged in shared memory once and kept in registers as mma A
//   fragments; it loops over key/value tiles of 64 rows, staged in shared memory with cp.async and
//   double-buffered (tile t+1 loads while tile t is used). Per tile each warp computes its 16 x 64 S
//   block, updates the online softmax in registers, and adds P V into its 16 x D fp32 accumulator; the
//   fp32 S accumulator fragment of two adjacent 8-column tiles has exactly the layout of a bf16 A
//   fragment, so P never leaves registers.
// - Backward, deterministic without atomics: a small pre-kernel writes D [B, H, N] (fp32 scratch);
//   then one kernel per key tile accumulates dK and dV over all query tiles in registers (each warp owns
//   16 keys and computes S^T = K Q^T, so P^T, dP^T and dS^T come out in the same transposed fragments it
//   needs as A operands), and a second kernel per query tile loops over key tiles and accumulates dQ
//   (recomputing P and dP). Each output element is written by exactly one thread, once: dqkv is fully
//   overwritten and the results are bitwise reproducible. The price is computing S and dP twice.
// - Shared-memory tiles are [64][D + 8] bf16: the 16-byte pad makes the 8 row addresses of every
//   ldmatrix fall in distinct bank groups (no conflicts). Rows past N are zero-filled by cp.async
//   (src-size 0), so the last tile needs only masking of the key columns >= N in the softmax (forward)
//   or P (backward); padded query rows get lse = +inf (P = 0) and D = 0 in the dK/dV kernel.
// - Results go out through the warp's own rows of a shared tile, so global stores are 16-byte vectors.
// - The kernels share their warp-level products ("Warp tile products" below): LoadA (the warp's 16 rows of a
//   shared tile as A fragments), MmaAXt (16 x 64 += A X^T: S, S^T, dP, dP^T) and MmaPX (16 x D += P X with
//   P a 16 x 64 result in registers: O, dV, dK, dQ).
// Operand fragments (PTX ISA, mma.m16n8k16 .bf16, g = lane / 4, t = lane % 4): A (16 x 16, row-major)
// a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..); B (16 x 8, k x n)
// b0 = (k 2t..2t+1, n g), b1 = (k 2t+8.., n g); C (16 x 8 fp32) c0,c1 = (g, 2t..2t+1), c2,c3 = (g+8, ..).
#include "kernels/cuda/fused_attention.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/cuda/hopper.cuh"
#include "kernels/cuda/runtime.cuh"
#include "kernels/error.h"

namespace vfm::cuda {
namespace {

using bf16_t = __nv_bfloat16;

constexpr int kBlock = 64;  // rows of a query tile and of a key/value tile
constexpr int kWarps = 4;   // each owns 16 rows of the CTA's 64
constexpr int kThreads = 32 * kWarps;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

template <int kD>
struct Cfg {
  static_assert(kD % 16 == 0, "head dim must be a multiple of 16");
  static constexpr int kStride = kD + 8;             // bf16 elements per shared-memory row (16-byte pad)
  static constexpr int kTile = kBlock * kStride;     // elements of one [64][kStride] tile
  static constexpr int kTileBytes = kTile * 2;
  static constexpr int kKSteps = kD / 16;            // k16 steps over the head dim
  static constexpr int kDTiles = kD / 8;             // n8 tiles over the head dim
  static constexpr int kNTiles = kBlock / 8;         // n8 tiles over a 64-row key (or query) tile
  static constexpr int kForwardSmem = 5 * kTileBytes;                           // Q, 2 x K, 2 x V
  static constexpr int kDkDvSmem = 6 * kTileBytes + 4 * kBlock * int(sizeof(float));  // K, V, 2 x Q, 2 x dO, 2 x (lse, D)
  static constexpr int kDqSmem = 6 * kTileBytes;                               // Q, dO, 2 x K, 2 x V
};

// ---- PTX wrappers -----------------------------------------------------------------------------------

__device__ __forceinline__ uint32_t SmemU32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared; valid == false writes 16 zero bytes and reads nothing.
__device__ __forceinline__ void CpAsync16(uint32_t dst, const void* src, bool valid) {
  const int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(n) : "memory");
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// Four 8x8 b16 matrices; lanes 8m..8m+7 give the row addresses of matrix m, register m receives it
// (thread l: row l/4, columns 2(l%4), +1; with .trans: rows 2(l%4), +1 of column l/4).
__device__ __forceinline__ void Ldsm4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}
__device__ __forceinline__ void Ldsm4T(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}

// c += a b (16 x 16 by 16 x 8, bf16 in, fp32 accumulate).
__device__ __forceinline__ void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 2^x (ex2.approx: 2 ulp; 2^-inf = 0).
__device__ __forceinline__ float Exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Two floats as a bf16 pair, `lo` in the low half (the lower column / k index).
__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// ---- Fragment addressing (lane's row address for Ldsm4 / Ldsm4T on a [rows][kStride] tile) -----------

// A operand (non-trans) of the 16 x 16 block at (r0, c0) of a row-major tile: matrices (r0, c0),
// (r0+8, c0), (r0, c0+8), (r0+8, c0+8) -> a0..a3. With Ldsm4T the same addresses give the B operands of
// a tile stored [k][n] (k rows r0..r0+15, n columns c0..c0+15): b0, b1 of n-tile c0, then b0, b1 of
// n-tile c0+8.
template <int kStride>
__device__ __forceinline__ uint32_t AddrA(const bf16_t* s, int r0, int c0, int lane) {
  return SmemU32(s + (r0 + (lane & 7) + ((lane >> 3) & 1) * 8) * kStride + c0 + (lane >> 4) * 8);
}
// B operands of X^T for a tile X stored [n][k] (non-trans; n rows n0..n0+15, k columns c0..c0+15):
// matrices (n0, c0), (n0, c0+8), (n0+8, c0), (n0+8, c0+8) -> b0, b1 of n-tile n0, b0, b1 of n-tile n0+8.
template <int kStride>
__device__ __forceinline__ uint32_t AddrB(const bf16_t* s, int n0, int c0, int lane) {
  return SmemU32(s + (n0 + (lane & 7) + (lane >> 4) * 8) * kStride + c0 + ((lane >> 3) & 1) * 8);
}

// ---- Tiles ------------------------------------------------------------------------------------------

// Rows row0..row0+63 of a [N][ld] bf16 matrix (kD contiguous columns from g) into a [64][kStride] shared
// tile with cp.async (no commit); rows >= N are zero-filled.
template <int kD>
__device__ __forceinline__ void LoadTile(bf16_t* s, const bf16_t* g, int64_t ld, int row0, int N) {
  constexpr int kChunks = kD / 8;  // 16-byte chunks per row
#pragma unroll
  for (int c = threadIdx.x; c < kBlock * kChunks; c += kThreads) {
    const int r = c / kChunks, cc = c % kChunks;
    const int row = row0 + r;
    const bool valid = row < N;
    const bf16_t* src = g + (valid ? int64_t(row) : int64_t(0)) * ld + cc * 8;  // row 0 exists: N >= 1
    CpAsync16(SmemU32(s + r * Cfg<kD>::kStride + cc * 8), src, valid);
  }
}

// The warp's 16 x kD fp32 accumulator (C fragments of kD/8 n-tiles; row gr scaled by mul0, row gr+8 by
// mul1) as bf16 to rows row0..row0+15 (those < N) of a [N][ld] matrix at g, through `stage` (16 rows of
// kStride that only this warp uses), with 16-byte stores.
template <int kD>
__device__ __forceinline__ void StoreWarpRows(const float (&acc)[kD / 8][4], float mul0, float mul1, bf16_t* stage,
                                              bf16_t* g, int64_t ld, int row0, int N, int lane) {
  constexpr int kS = Cfg<kD>::kStride;
  const int gr = lane >> 2, t = lane & 3;
#pragma unroll
  for (int dt = 0; dt < kD / 8; ++dt) {
    const int col = dt * 8 + 2 * t;
    *reinterpret_cast<uint32_t*>(stage + gr * kS + col) = PackBf16(acc[dt][0] * mul0, acc[dt][1] * mul0);
    *reinterpret_cast<uint32_t*>(stage + (gr + 8) * kS + col) = PackBf16(acc[dt][2] * mul1, acc[dt][3] * mul1);
  }
  __syncwarp();
  constexpr int kChunks = kD / 8;
#pragma unroll
  for (int c = lane; c < 16 * kChunks; c += 32) {
    const int r = c / kChunks, cc = c % kChunks;
    if (row0 + r < N)
      *reinterpret_cast<uint4*>(g + int64_t(row0 + r) * ld + cc * 8) =
          *reinterpret_cast<const uint4*>(stage + r * kS + cc * 8);
  }
  __syncwarp();
}

// ---- Warp tile products -----------------------------------------------------------------------------
// Each warp computes with 16 rows (the mma's M) against a whole 64-row shared tile; the results are the C
// fragments of kBlock/8 (scores) or kD/8 (head dim) n-tiles, fragment [nt] holding columns 8nt..8nt+7.

template <int kN>
__device__ __forceinline__ void ZeroAcc(float (&c)[kN][4]) {
#pragma unroll
  for (int n = 0; n < kN; ++n) c[n][0] = c[n][1] = c[n][2] = c[n][3] = 0.f;
}

// Rows row0..row0+15 of a [64][kStride] tile (all kD columns) as A fragments, a[ks] = columns 16ks..16ks+15.
template <int kD>
__device__ __forceinline__ void LoadA(uint32_t (&a)[kD / 16][4], const bf16_t* s, int row0, int lane) {
#pragma unroll
  for (int ks = 0; ks < kD / 16; ++ks) Ldsm4(a[ks], AddrA<Cfg<kD>::kStride>(s, row0, ks * 16, lane));
}

// One step of MmaAXt (below): k-step ks (a = A's fragment a[ks]) of c's columns 16np..16np+15, i.e.
// of X's rows 16np..16np+15.
template <int kD>
__device__ __forceinline__ void MmaAXtStep(float (&c)[kBlock / 8][4], const uint32_t (&a)[4], const bf16_t* x,
                                           int ks, int np, int lane) {
  uint32_t b[4];
  Ldsm4(b, AddrB<Cfg<kD>::kStride>(x, np * 16, ks * 16, lane));
  Mma(c[2 * np], a, b[0], b[1]);
  Mma(c[2 * np + 1], a, b[2], b[3]);
}
// c (16 x 64) += A X^T, k = the head dim: A the warp's rows from LoadA, X a [64][kStride] tile (keys or
// queries, kD columns). X stored [n][k] is the B operand as is (non-trans loads, AddrB). S = Q K^T,
// S^T = K Q^T, dP = dO V^T, dP^T = V dO^T. Per accumulator the k steps go in order ks = 0, 1, ...
template <int kD>
__device__ __forceinline__ void MmaAXt(float (&c)[kBlock / 8][4], const uint32_t (&a)[kD / 16][4], const bf16_t* x,
                                       int lane) {
#pragma unroll
  for (int ks = 0; ks < kD / 16; ++ks)
#pragma unroll
    for (int np = 0; np < kBlock / 16; ++np) MmaAXtStep<kD>(c, a[ks], x, ks, np, lane);
}

// The 16 x 16 block kk of a 16 x 64 fp32 result (n-tiles 2kk, 2kk+1) as the bf16 A fragment of k-step kk:
// rows g, g+8 of tile 2kk are a0, a1 (columns 2t, 2t+1), those of tile 2kk+1 are a2, a3 (columns 2t+8, +9).
__device__ __forceinline__ void PackA(uint32_t (&a)[4], const float (&p)[kBlock / 8][4], int kk) {
  a[0] = PackBf16(p[2 * kk][0], p[2 * kk][1]);
  a[1] = PackBf16(p[2 * kk][2], p[2 * kk][3]);
  a[2] = PackBf16(p[2 * kk + 1][0], p[2 * kk + 1][1]);
  a[3] = PackBf16(p[2 * kk + 1][2], p[2 * kk + 1][3]);
}

// c (16 x kD) += P X, k = the 64 rows of X: P a 16 x 64 fp32 result (rounded to bf16 by PackA), X a
// [64][kStride] tile stored [k][n] (trans loads, AddrA); O += P V, dV += P^T dO, dK += dS^T Q, dQ += dS K.
// Per accumulator the k steps go in order kk = 0, 1, ...
template <int kD>
__device__ __forceinline__ void MmaPX(float (&c)[kD / 8][4], const float (&p)[kBlock / 8][4], const bf16_t* x,
                                      int lane) {
#pragma unroll
  for (int kk = 0; kk < kBlock / 16; ++kk) {
    uint32_t a[4];
    PackA(a, p, kk);
#pragma unroll
    for (int dp = 0; dp < kD / 16; ++dp) {
      uint32_t b[4];
      Ldsm4T(b, AddrA<Cfg<kD>::kStride>(x, kk * 16, dp * 16, lane));
      Mma(c[2 * dp], a, b[0], b[1]);
      Mma(c[2 * dp + 1], a, b[2], b[3]);
    }
  }
}

// ---- Forward ----------------------------------------------------------------------------------------

template <int kD>
__global__ void __launch_bounds__(kThreads) FusedAttentionForwardKernel(const bf16_t* __restrict__ qkv,
                                                                        bf16_t* __restrict__ out,
                                                                        float* __restrict__ lse, int N, int H,
                                                                        float scale_log2) {
  using C = Cfg<kD>;
  constexpr int kS = C::kStride;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16_t* sQ = reinterpret_cast<bf16_t*>(smem);
  bf16_t* sK = sQ + C::kTile;      // 2 buffers
  bf16_t* sV = sK + 2 * C::kTile;  // 2 buffers

  const int q0 = blockIdx.x * kBlock, h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gr = lane >> 2, t = lane & 3;
  const int64_t ld3 = int64_t(3) * H * kD, ldo = int64_t(H) * kD;
  const bf16_t* q_g = qkv + int64_t(b) * N * ld3 + int64_t(h) * kD;
  const bf16_t* k_g = q_g + ldo;
  const bf16_t* v_g = q_g + 2 * ldo;

  LoadTile<kD>(sQ, q_g, ld3, q0, N);
  LoadTile<kD>(sK, k_g, ld3, 0, N);
  LoadTile<kD>(sV, v_g, ld3, 0, N);
  CpAsyncCommit();

  uint32_t qf[C::kKSteps][4];
  float o[C::kDTiles][4];
  ZeroAcc(o);
  float m[2] = {-INFINITY, -INFINITY};  // running max of c S for rows gr, gr+8 (same in the 4 lanes of a quad)
  float l[2] = {0.f, 0.f};              // this lane's part of the running sum of 2^(c S - m)

  const int nkt = (N + kBlock - 1) / kBlock;
  for (int kt = 0; kt < nkt; ++kt) {
    const int buf = kt & 1;
    if (kt + 1 < nkt) {  // prefetch the next K/V tile into the other buffer (freed by the last iteration's sync)
      LoadTile<kD>(sK + (buf ^ 1) * C::kTile, k_g, ld3, (kt + 1) * kBlock, N);
      LoadTile<kD>(sV + (buf ^ 1) * C::kTile, v_g, ld3, (kt + 1) * kBlock, N);
      CpAsyncCommit();
      CpAsyncWait<1>();  // everything but the newest group: tile kt (and Q) has landed
    } else {
      CpAsyncWait<0>();
    }
    __syncthreads();
    if (kt == 0) LoadA<kD>(qf, sQ, warp * 16, lane);
    const bf16_t* k_s = sK + buf * C::kTile;
    const bf16_t* v_s = sV + buf * C::kTile;

    // S = Q K^T for the warp's 16 rows x 64 keys.
    float s[C::kNTiles][4];
    ZeroAcc(s);
    MmaAXt<kD>(s, qf, k_s, lane);

    // Scale into the log2 domain; key columns >= N (last tile only) get -inf.
    const int j0 = kt * kBlock;
    const bool partial = j0 + kBlock > N;
#pragma unroll
    for (int nt = 0; nt < C::kNTiles; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[nt][e] *= scale_log2;
        if (partial && j0 + nt * 8 + 2 * t + (e & 1) >= N) s[nt][e] = -INFINITY;
      }
    }

    // Online softmax: new row max over this tile (the 4 lanes of a quad hold the same row).
    float mx[2] = {m[0], m[1]};
#pragma unroll
    for (int nt = 0; nt < C::kNTiles; ++nt) {
      mx[0] = fmaxf(mx[0], fmaxf(s[nt][0], s[nt][1]));
      mx[1] = fmaxf(mx[1], fmaxf(s[nt][2], s[nt][3]));
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    }
    // mx is finite: column j0 < N of every tile is valid. On the first tile m = -inf and alpha = 0.
    float alpha[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      alpha[r] = Exp2(m[r] - mx[r]);
      m[r] = mx[r];
      l[r] *= alpha[r];
    }
#pragma unroll
    for (int dt = 0; dt < C::kDTiles; ++dt) {
      o[dt][0] *= alpha[0];
      o[dt][1] *= alpha[0];
      o[dt][2] *= alpha[1];
      o[dt][3] *= alpha[1];
    }
#pragma unroll
    for (int nt = 0; nt < C::kNTiles; ++nt) {
      s[nt][0] = Exp2(s[nt][0] - m[0]);
      s[nt][1] = Exp2(s[nt][1] - m[0]);
      s[nt][2] = Exp2(s[nt][2] - m[1]);
      s[nt][3] = Exp2(s[nt][3] - m[1]);
      l[0] += s[nt][0] + s[nt][1];
      l[1] += s[nt][2] + s[nt][3];
    }

    // O += P V (k = the 64 keys): P goes from its C fragments straight into A fragments (PackA).
    MmaPX<kD>(o, s, v_s, lane);
    __syncthreads();  // all warps are done with buffer `buf` before the next iteration refills it
  }

  // Finish: the row sums over the quad, O /= l, lse = (m + log2 l) ln 2. l >= 1 (the max term is 2^0).
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
  const int row0 = q0 + warp * 16;
  if (t == 0) {
    const int64_t bh = int64_t(b) * H + h;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int i = row0 + gr + 8 * r;
      if (i < N) lse[bh * N + i] = (m[r] + log2f(l[r])) * kLn2;
    }
  }
  // sQ's rows of this warp were read (into qf) only by this warp: reuse them to stage the output.
  StoreWarpRows<kD>(o, 1.f / l[0], 1.f / l[1], sQ + warp * 16 * kS, out + int64_t(b) * N * ldo + int64_t(h) * kD,
                    ldo, row0, N, lane);
}

// ---- Forward on Hopper (sm_90a): TMA + wgmma --------------------------------------------------------
// The same math, one warpgroup per 64-row query tile (wgmma's M = 64): the first thread of warpgroup 0
// copies the Q tile once and the K/V tiles of 64 keys through a two-stage mbarrier pipeline with TMA (one
// 2-D tensor map over qkv as [B*N rows, 3*H*D columns], boxes of 64 rows x D, 128B-swizzled: a tile row is
// 128 bytes); warpgroup 1 computes S = Q K^T with Q and K read K-major from shared memory (wgmma SS), the
// online softmax in the accumulators (the same fragment layout as mma.sync's C: rows 16w + g, +8), and
// O += P V with P from registers (RS: two adjacent 8-column accumulator tiles are one A fragment, as in
// PackA) and V read N-major (imm-trans-b 1) from the same swizzled tile layout. Rows of the next batch
// element that a tile's box reaches are keys masked to -inf (P = 0) or query rows not stored; past B*N rows
// TMA reads zeros. Head dim 64 only (ViT-S/B/L): for D = 32 the mma.sync kernel above serves. The backward
// on Hopper ("Backward on Hopper" below) shares the shared-memory layout, the producer and the helpers.

constexpr int kHopperD = 64;
constexpr int kHopperSpan = kHopperD * 2;              // bytes of a tile row: the swizzle span
constexpr int kHopperTileBytes = kBlock * kHopperSpan;  // one 64 x D bf16 tile
constexpr int kHopperStages = 2;
constexpr int kHopperThreads = 256;                     // warpgroup 0: producer; warpgroup 1: consumer

// The shared addresses of a Hopper kernel, from its 1024-byte aligned base (the 128B swizzle's pattern): kFixed
// tiles copied once (the forward's Q; the backward's K, V or Q, dO), kHopperStages stages of two streamed tiles
// (K, V or Q, dO), then the mbarriers fixed_full, full[kHopperStages], empty[kHopperStages].
template <int kFixed>
struct HopperSmem {
  static constexpr int kTileBytes = (kFixed + 2 * kHopperStages) * kHopperTileBytes;
  static constexpr int kBytes = 1024 + kTileBytes + 8 * (1 + 2 * kHopperStages);  // 1024: room to align
  uint32_t base;
  __device__ __forceinline__ uint32_t Fixed(int f) const { return base + f * kHopperTileBytes; }
  __device__ __forceinline__ uint32_t First(int s) const { return base + (kFixed + 2 * s) * kHopperTileBytes; }
  __device__ __forceinline__ uint32_t Second(int s) const { return First(s) + kHopperTileBytes; }
  __device__ __forceinline__ uint32_t FixedFull() const { return base + kTileBytes; }
  __device__ __forceinline__ uint32_t Full(int s) const { return FixedFull() + 8 + 8 * s; }
  __device__ __forceinline__ uint32_t Empty(int s) const { return FixedFull() + 8 + 8 * (kHopperStages + s); }
};

// Where a 64-row tile comes from: a tensor map and the tile's first column in it.
struct TmaTile {
  const CUtensorMap* map;
  int col;
};

#if !defined(__CUDA_ARCH__) || defined(__CUDA_ARCH_FEAT_SM90_ALL)  // wgmma and TMA exist on sm_90a only
// The descriptor of a 64 x D tile at `tile` as a K-major operand (Q as A, K as B in Q K^T; K, V, Q, dO in the
// backward's) for the k16 step ks of the head dim (32 bytes into each swizzled row; SBO: 8 rows on; LBO
// unused), or as the N-major B operand (V in P V; dO, Q, K in the backward's) for the k16 step kk of its rows
// (16 rows on; SBO: 8 rows on; LBO, the next 64 of N, unused with N = D = 64).
__device__ __forceinline__ uint64_t TileKMajor(uint32_t tile, int ks) {
  return sm90::MatrixDescriptor(tile + 32 * ks, 16, 8 * kHopperSpan, kHopperSpan);
}
__device__ __forceinline__ uint64_t TileNMajor(uint32_t tile, int kk) {
  return sm90::MatrixDescriptor(tile + 16 * kk * kHopperSpan, kHopperTileBytes, 8 * kHopperSpan, kHopperSpan);
}

// Thread 0's set-up: the fixed tiles' and every full stage's mbarrier take one arrival (the producer's, with
// the TMA bytes), an empty stage's the 128 of the consumer warpgroup.
template <int kFixed>
__device__ __forceinline__ void HopperInitBarriers(HopperSmem<kFixed> sm) {
  sm90::MbarrierInit(sm.FixedFull(), 1);
  for (int s = 0; s < kHopperStages; ++s) {
    sm90::MbarrierInit(sm.Full(s), 1);
    sm90::MbarrierInit(sm.Empty(s), 128);
  }
  sm90::FenceProxyAsync();
}

// The producer: the fixed tiles (rows fixed_row..+63) once, then the pairs of tiles t = 0..n-1 (rows
// row0 + 64 t..) into stage t % 2 once the consumer has released it.
template <int kFixed>
__device__ __forceinline__ void HopperProduce(HopperSmem<kFixed> sm, const TmaTile (&fixed)[kFixed], int fixed_row,
                                              TmaTile first, TmaTile second, int row0, int n) {
  sm90::MbarrierArriveExpectTx(sm.FixedFull(), kFixed * kHopperTileBytes);
  for (int f = 0; f < kFixed; ++f) sm90::TmaLoad2d(sm.Fixed(f), fixed[f].map, fixed[f].col, fixed_row, sm.FixedFull());
  for (int t = 0; t < n; ++t) {
    const int s = t % kHopperStages;
    if (t >= kHopperStages) sm90::MbarrierWait(sm.Empty(s), (t / kHopperStages - 1) & 1);
    sm90::MbarrierArriveExpectTx(sm.Full(s), 2 * kHopperTileBytes);
    sm90::TmaLoad2d(sm.First(s), first.map, first.col, row0 + t * kBlock, sm.Full(s));
    sm90::TmaLoad2d(sm.Second(s), second.map, second.col, row0 + t * kBlock, sm.Full(s));
  }
}

// A 64 x 64 fp32 accumulator as the bf16 A fragments of its four k16 steps: tiles 2kk, 2kk + 1 (registers
// 8kk..8kk+7) are k-step kk, as in PackA. All packed before the wgmma's fence: a register written between
// two wgmma makes ptxas insert a fence (its note C7519).
__device__ __forceinline__ void HopperPackA(uint32_t (&a)[kBlock / 16][4], const float (&c)[32]) {
#pragma unroll
  for (int kk = 0; kk < kBlock / 16; ++kk)
#pragma unroll
    for (int r = 0; r < 4; ++r) a[kk][r] = PackBf16(c[8 * kk + 2 * r], c[8 * kk + 2 * r + 1]);
}

// The consumer thread's rows 16 warp + gr + 8r (r = 0, 1) of a 64 x 64 accumulator, times mul[r], as bf16
// into the rows row0 + ... < N of a [N][ld] matrix at g.
__device__ __forceinline__ void HopperStoreRows(const float (&acc)[32], const float (&mul)[2], bf16_t* g, int64_t ld,
                                                int row0, int N, int warp, int gr, int t) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + 16 * warp + gr + 8 * r;
    if (row >= N) continue;
#pragma unroll
    for (int dt = 0; dt < kHopperD / 8; ++dt)
      *reinterpret_cast<uint32_t*>(g + row * ld + 8 * dt + 2 * t) =
          PackBf16(acc[4 * dt + 2 * r] * mul[r], acc[4 * dt + 2 * r + 1] * mul[r]);
  }
}

// Online softmax of one tile's scores (the thread's accumulators of S, 8 n-tiles x 4: rows gr (e < 2) and
// gr + 8), as the mma.sync forward does it: scaled into the log2 domain, keys >= N masked, the running max m
// and this lane's part of the running sum l updated, and O rescaled by 2^(m_old - m_new). s becomes P.
__device__ __forceinline__ void HopperSoftmax(float (&s)[32], float (&o)[32], float (&m)[2], float (&l)[2], int j0,
                                              int N, int t, float scale_log2) {
  const bool partial = j0 + kBlock > N;
  float mx[2] = {m[0], m[1]};
#pragma unroll
  for (int e = 0; e < 32; ++e) {
    s[e] *= scale_log2;
    if (partial && j0 + (e / 4) * 8 + 2 * t + (e & 1) >= N) s[e] = -INFINITY;
    mx[(e / 2) & 1] = fmaxf(mx[(e / 2) & 1], s[e]);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    const float alpha = Exp2(m[r] - mx[r]);  // 0 on the first tile (m = -inf); mx is finite: key j0 < N
    m[r] = mx[r], l[r] *= alpha;
#pragma unroll
    for (int e = 0; e < 32; ++e)
      if (((e / 2) & 1) == r) o[e] *= alpha;
  }
#pragma unroll
  for (int e = 0; e < 32; ++e) {
    s[e] = Exp2(s[e] - m[(e / 2) & 1]);
    l[(e / 2) & 1] += s[e];
  }
}

#endif

__global__ void __launch_bounds__(kHopperThreads)
    FusedAttentionForwardHopperKernel(const __grid_constant__ CUtensorMap map, bf16_t* __restrict__ out,
                                      float* __restrict__ lse, int N, int H, float scale_log2) {
#if !defined(__CUDA_ARCH__) || defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const HopperSmem<1> sm{(sm90::SmemAddr(smem_raw) + 1023) & ~1023u};  // Fixed(0): Q; First, Second: K, V
  const int q0 = blockIdx.x * kBlock, h = blockIdx.y, b = blockIdx.z, nkt = (N + kBlock - 1) / kBlock;
  if (threadIdx.x == 0) HopperInitBarriers(sm);
  __syncthreads();
  // The warpgroup index through a shuffle: ptxas then knows it is warp-uniform, and does not serialize the
  // consumer's wgmma as if they sat in a divergent branch (its warning C7520).
  if (__shfl_sync(0xffffffffu, threadIdx.x / 128, 0) == 0) {
    if (threadIdx.x == 0)
      HopperProduce(sm, {{&map, h * kHopperD}}, b * N + q0, {&map, (H + h) * kHopperD}, {&map, (2 * H + h) * kHopperD},
                    b * N, nkt);
    return;
  }

  const int i = threadIdx.x - 128, warp = i / 32, gr = (i % 32) / 4, t = i % 4;
  float o[32], s[32];
  for (int e = 0; e < 32; ++e) o[e] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  sm90::MbarrierWait(sm.FixedFull(), 0);
  for (int kt = 0; kt < nkt; ++kt) {
    const int st = kt % kHopperStages;
    sm90::MbarrierWait(sm.Full(st), (kt / kHopperStages) & 1);
    // S = Q K^T (64 x 64, k = the head dim).
    sm90::WgmmaFence();
#pragma unroll
    for (int ks = 0; ks < kHopperD / 16; ++ks)
      sm90::WgmmaSS(s, TileKMajor(sm.Fixed(0), ks), TileKMajor(sm.First(st), ks), /*accumulate=*/ks > 0);
    sm90::WgmmaCommit();
    sm90::WgmmaWait<0>();
    HopperSoftmax(s, o, m, l, kt * kBlock, N, t, scale_log2);
    // O += P V (k = the 64 keys), P from registers.
    uint32_t p[kBlock / 16][4];
    HopperPackA(p, s);
    sm90::WgmmaFence();
#pragma unroll
    for (int kk = 0; kk < kBlock / 16; ++kk)
      sm90::WgmmaRS</*kTransB=*/1>(o, p[kk], TileNMajor(sm.Second(st), kk), 1);
    sm90::WgmmaCommit();
    sm90::WgmmaWait<0>();
    sm90::MbarrierArrive(sm.Empty(st));  // the stage may be refilled
  }

  // Finish as the mma.sync forward: row sums over the quad, lse = (m + log2 l) ln 2, O / l stored as bf16.
  const int64_t ldo = int64_t(H) * kHopperD;
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    inv[r] = 1.f / l[r];
    const int row = q0 + 16 * warp + gr + 8 * r;
    if (row < N && t == 0) lse[(int64_t(b) * H + h) * N + row] = (m[r] + log2f(l[r])) * kLn2;
  }
  HopperStoreRows(o, inv, out + int64_t(b) * N * ldo + int64_t(h) * kHopperD, ldo, q0, N, warp, gr, t);
#endif
}

// ---- Backward ---------------------------------------------------------------------------------------

// dvec[b, h, i] = sum_d dout[b, i, h, d] * out[b, i, h, d]: kD/8 lanes per row r = (b*N + i)*H + h, each
// one 16-byte chunk of both tensors, summed with shuffles inside the lane group.
template <int kD>
__global__ void FusedAttentionRowDotKernel(const bf16_t* __restrict__ dout, const bf16_t* __restrict__ out,
                                           float* __restrict__ dvec, int64_t rows, int N, int H) {
  constexpr int kLanes = kD / 8;
  static_assert(32 % kLanes == 0, "a row's lanes must sit in one warp");
  const int64_t row = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / kLanes;
  const int sub = threadIdx.x % kLanes;
  float acc = 0.f;
  if (row < rows) {
    const uint4 av = *reinterpret_cast<const uint4*>(dout + row * kD + sub * 8);
    const uint4 ov = *reinterpret_cast<const uint4*>(out + row * kD + sub * 8);
    const __nv_bfloat162* a2 = reinterpret_cast<const __nv_bfloat162*>(&av);
    const __nv_bfloat162* o2 = reinterpret_cast<const __nv_bfloat162*>(&ov);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 fa = __bfloat1622float2(a2[k]), fo = __bfloat1622float2(o2[k]);
      acc += fa.x * fo.x + fa.y * fo.y;
    }
  }
  // Every lane takes part (no early return): blockDim is a multiple of 32 and of kLanes.
#pragma unroll
  for (int off = kLanes / 2; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (row < rows && sub == 0) {
    const int64_t h = row % H, i = (row / H) % N, b = row / (int64_t(H) * N);
    dvec[(b * H + h) * N + i] = acc;
  }
}

// dK, dV of one 64-key tile, over all query tiles. Warp w owns keys j0 + 16w .. +15 and computes the
// transposed blocks S^T = K Q^T (16 keys x 64 queries), P^T, dP^T = V dO^T, dS^T: as C fragments they are
// directly the A operands of dV += P^T dO and dK += dS^T Q.
template <int kD>
__global__ void __launch_bounds__(kThreads) FusedAttentionDkDvKernel(
    const bf16_t* __restrict__ qkv, const bf16_t* __restrict__ dout, const float* __restrict__ lse,
    const float* __restrict__ dvec, bf16_t* __restrict__ dqkv, int N, int H, float scale, float scale_log2) {
  using C = Cfg<kD>;
  constexpr int kS = C::kStride;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16_t* sK = reinterpret_cast<bf16_t*>(smem);
  bf16_t* sV = sK + C::kTile;
  bf16_t* sQ = sV + C::kTile;       // 2 buffers
  bf16_t* sdO = sQ + 2 * C::kTile;  // 2 buffers
  float* sL = reinterpret_cast<float*>(sdO + 2 * C::kTile);  // 2 buffers of 64: lse * log2 e (+inf past N)
  float* sD = sL + 2 * kBlock;                                // 2 buffers of 64: D (0 past N)

  const int j0 = blockIdx.x * kBlock, h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, t = lane & 3;
  const int64_t ld3 = int64_t(3) * H * kD, ldo = int64_t(H) * kD;
  const bf16_t* q_g = qkv + int64_t(b) * N * ld3 + int64_t(h) * kD;
  const bf16_t* k_g = q_g + ldo;
  const bf16_t* v_g = q_g + 2 * ldo;
  const bf16_t* do_g = dout + int64_t(b) * N * ldo + int64_t(h) * kD;
  const int64_t bh = int64_t(b) * H + h;
  const float* lse_g = lse + bh * N;
  const float* d_g = dvec + bh * N;

  // Row statistics of query tile i0 into buffer `buf` (plain stores: visible after the next __syncthreads).
  auto load_stats = [&](int buf, int i0) {
    if (threadIdx.x < kBlock) {
      const int i = i0 + threadIdx.x;
      sL[buf * kBlock + threadIdx.x] = i < N ? lse_g[i] * kLog2e : INFINITY;
      sD[buf * kBlock + threadIdx.x] = i < N ? d_g[i] : 0.f;
    }
  };

  LoadTile<kD>(sK, k_g, ld3, j0, N);
  LoadTile<kD>(sV, v_g, ld3, j0, N);
  LoadTile<kD>(sQ, q_g, ld3, 0, N);
  LoadTile<kD>(sdO, do_g, ldo, 0, N);
  CpAsyncCommit();
  load_stats(0, 0);

  uint32_t kf[C::kKSteps][4], vf[C::kKSteps][4];
  float dk[C::kDTiles][4], dv[C::kDTiles][4];
  ZeroAcc(dk);
  ZeroAcc(dv);

  const int nqt = (N + kBlock - 1) / kBlock;
  for (int it = 0; it < nqt; ++it) {
    const int buf = it & 1;
    if (it + 1 < nqt) {  // prefetch the next Q/dO tile and its statistics into the other buffer
      LoadTile<kD>(sQ + (buf ^ 1) * C::kTile, q_g, ld3, (it + 1) * kBlock, N);
      LoadTile<kD>(sdO + (buf ^ 1) * C::kTile, do_g, ldo, (it + 1) * kBlock, N);
      CpAsyncCommit();
      load_stats(buf ^ 1, (it + 1) * kBlock);
      CpAsyncWait<1>();
    } else {
      CpAsyncWait<0>();
    }
    __syncthreads();
    if (it == 0) {
      LoadA<kD>(kf, sK, warp * 16, lane);
      LoadA<kD>(vf, sV, warp * 16, lane);
    }
    const bf16_t* q_s = sQ + buf * C::kTile;
    const bf16_t* do_s = sdO + buf * C::kTile;
    const float* l_s = sL + buf * kBlock;
    const float* d_s = sD + buf * kBlock;

    // S^T = K Q^T (16 keys x 64 queries), then P^T = 2^(c S^T - lse_i log2 e): query columns past N have
    // lse = +inf there, so P^T = 0 (their Q, dO rows are zero, S^T = 0 is finite).
    float p[C::kNTiles][4];
    ZeroAcc(p);
    MmaAXt<kD>(p, kf, q_s, lane);
#pragma unroll
    for (int nt = 0; nt < C::kNTiles; ++nt) {
      const float2 L = *reinterpret_cast<const float2*>(l_s + nt * 8 + 2 * t);  // queries nt*8+2t, +1
      p[nt][0] = Exp2(p[nt][0] * scale_log2 - L.x);
      p[nt][1] = Exp2(p[nt][1] * scale_log2 - L.y);
      p[nt][2] = Exp2(p[nt][2] * scale_log2 - L.x);
      p[nt][3] = Exp2(p[nt][3] * scale_log2 - L.y);
    }

    // dV += P^T dO (k = the 64 queries; dO stored [query][d] is [k][n]).
    MmaPX<kD>(dv, p, do_s, lane);

    // dP^T = V dO^T (16 keys x 64 queries), then dS^T = P^T (dP^T - D_i) in place.
    float ds[C::kNTiles][4];
    ZeroAcc(ds);
    MmaAXt<kD>(ds, vf, do_s, lane);
#pragma unroll
    for (int nt = 0; nt < C::kNTiles; ++nt) {
      const float2 Dq = *reinterpret_cast<const float2*>(d_s + nt * 8 + 2 * t);
      ds[nt][0] = p[nt][0] * (ds[nt][0] - Dq.x);
      ds[nt][1] = p[nt][1] * (ds[nt][1] - Dq.y);
      ds[nt][2] = p[nt][2] * (ds[nt][2] - Dq.x);
      ds[nt][3] = p[nt][3] * (ds[nt][3] - Dq.y);
    }

    // dK += dS^T Q (k = the 64 queries; Q stored [query][d] is [k][n]). Scaled at the end.
    MmaPX<kD>(dk, ds, q_s, lane);
    __syncthreads();  // buffer `buf` (tiles and statistics) is free for the next prefetch
  }

  // sK / sV rows of this warp were read (into kf / vf) only by this warp: stage dK and dV there.
  bf16_t* dk_g = dqkv + int64_t(b) * N * ld3 + ldo + int64_t(h) * kD;
  bf16_t* dv_g = dk_g + ldo;
  const int row0 = j0 + warp * 16;
  StoreWarpRows<kD>(dk, scale, scale, sK + warp * 16 * kS, dk_g, ld3, row0, N, lane);
  StoreWarpRows<kD>(dv, 1.f, 1.f, sV + warp * 16 * kS, dv_g, ld3, row0, N, lane);
}

// dQ of one 64-query tile, over all key tiles: warp w owns queries q0 + 16w .. +15 and recomputes
// S = Q K^T, P = 2^(c S - lse log2 e), dP = dO V^T, dS = P (dP - D), then dQ += dS K.
template <int kD>
__global__ void __launch_bounds__(kThreads) FusedAttentionDqKernel(
    const bf16_t* __restrict__ qkv, const bf16_t* __restrict__ dout, const float* __restrict__ lse,
    const float* __restrict__ dvec, bf16_t* __restrict__ dqkv, int N, int H, float scale, float scale_log2) {
  using C = Cfg<kD>;
  constexpr int kS = C::kStride;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16_t* sQ = reinterpret_cast<bf16_t*>(smem);
  bf16_t* sdO = sQ + C::kTile;
  bf16_t* sK = sdO + C::kTile;     // 2 buffers
  bf16_t* sV = sK + 2 * C::kTile;  // 2 buffers

  const int q0 = blockIdx.x * kBlock, h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gr = lane >> 2, t = lane & 3;
  const int64_t ld3 = int64_t(3) * H * kD, ldo = int64_t(H) * kD;
  const bf16_t* q_g = qkv + int64_t(b) * N * ld3 + int64_t(h) * kD;
  const bf16_t* k_g = q_g + ldo;
  const bf16_t* v_g = q_g + 2 * ldo;
  const bf16_t* do_g = dout + int64_t(b) * N * ldo + int64_t(h) * kD;
  const int64_t bh = int64_t(b) * H + h;

  LoadTile<kD>(sQ, q_g, ld3, q0, N);
  LoadTile<kD>(sdO, do_g, ldo, q0, N);
  LoadTile<kD>(sK, k_g, ld3, 0, N);
  LoadTile<kD>(sV, v_g, ld3, 0, N);
  CpAsyncCommit();

  // This lane's two rows gr, gr+8: lse in the log2 domain and D (rows past N: P = 0, never stored).
  float lse2[2], drow[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int i = q0 + warp * 16 + gr + 8 * r;
    lse2[r] = i < N ? lse[bh * N + i] * kLog2e : INFINITY;
    drow[r] = i < N ? dvec[bh * N + i] : 0.f;
  }

  uint32_t qf[C::kKSteps][4], dof[C::kKSteps][4];
  float dq[C::kDTiles][4];
  ZeroAcc(dq);

  const int nkt = (N + kBlock - 1) / kBlock;
  for (int kt = 0; kt < nkt; ++kt) {
    const int buf = kt & 1;
    if (kt + 1 < nkt) {
      LoadTile<kD>(sK + (buf ^ 1) * C::kTile, k_g, ld3, (kt + 1) * kBlock, N);
      LoadTile<kD>(sV + (buf ^ 1) * C::kTile, v_g, ld3, (kt + 1) * kBlock, N);
      CpAsyncCommit();
      CpAsyncWait<1>();
    } else {
      CpAsyncWait<0>();
    }
    __syncthreads();
    if (kt == 0) {
      LoadA<kD>(qf, sQ, warp * 16, lane);
      LoadA<kD>(dof, sdO, warp * 16, lane);
    }
    const bf16_t* k_s = sK + buf * C::kTile;
    const bf16_t* v_s = sV + buf * C::kTile;

    // S = Q K^T and dP = dO V^T (16 queries x 64 keys each).
    float s[C::kNTiles][4], dp[C::kNTiles][4];
    ZeroAcc(s);
    ZeroAcc(dp);
#pragma unroll
    for (int ks = 0; ks < C::kKSteps; ++ks) {
#pragma unroll
      for (int np = 0; np < C::kNTiles / 2; ++np) {  // interleaved: two MmaAXt cost sm_80 a register (D = 32)
        MmaAXtStep<kD>(s, qf[ks], k_s, ks, np, lane);
        MmaAXtStep<kD>(dp, dof[ks], v_s, ks, np, lane);
      }
    }

    // dS = P (dP - D), with P = 0 for key columns >= N (last tile only), into s.
    const int j0 = kt * kBlock;
    const bool partial = j0 + kBlock > N;
#pragma unroll
    for (int nt = 0; nt < C::kNTiles; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        float pv = Exp2(s[nt][e] * scale_log2 - lse2[r]);
        if (partial && j0 + nt * 8 + 2 * t + (e & 1) >= N) pv = 0.f;
        s[nt][e] = pv * (dp[nt][e] - drow[r]);
      }
    }

    // dQ += dS K (k = the 64 keys; K stored [key][d] is [k][n]). Scaled at the end.
    MmaPX<kD>(dq, s, k_s, lane);
    __syncthreads();
  }

  // sQ's rows of this warp were read (into qf) only by this warp: stage dQ there.
  StoreWarpRows<kD>(dq, scale, scale, sQ + warp * 16 * kS, dqkv + int64_t(b) * N * ld3 + int64_t(h) * kD, ld3,
                    q0 + warp * 16, N, lane);
}

// ---- Backward on Hopper (sm_90a): TMA + wgmma -------------------------------------------------------
// The decomposition of the mma.sync backward above (D from FusedAttentionRowDotKernel, then dK/dV per key
// tile and dQ per query tile: no atomics, every output element written once, bitwise reproducible) on the
// Hopper forward's machinery: thread 0 streams 64 x D tiles with TMA through HopperSmem's two stages (qkv's
// map and one over dO as [B*N rows, H*D columns]), warpgroup 1 computes with wgmma, M = its 64 rows.
// - dK/dV, per 64-key tile (K, V fixed; Q, dO streamed), transposed so that the results' rows are keys:
//     S^T = K Q^T,  dP^T = V dO^T                      SS: every tile is [row][d], K-major as stored
//     P^T = 2^(c S^T - lse_i log2 e),  dS^T = P^T (dP^T - D_i)       (query i: the accumulator's column)
//     dV += P^T dO,  dK += dS^T Q,  dK *= s at the end  RS: P^T, dS^T from the accumulators (HopperPackA);
//                                                      dO, Q as [k = query][n = d]: N-major, imm-trans-b 1
//   Query columns >= N (the next batch element's rows in a box, or TMA's zeros past B*N) get lse = +inf and
//   D = 0, so P^T = dS^T = 0 there, as in the mma.sync dK/dV kernel.
// - dQ, per 64-query tile (Q, dO fixed; K, V streamed):
//     S = Q K^T,  dP = dO V^T (SS, K-major);  P = 2^(c S - lse log2 e), 0 for keys >= N;  dS = P (dP - D);
//     dQ += dS K (RS, K N-major);  dQ *= s at the end.
// Rows of the fixed tiles past N are computed on and not stored.

__global__ void __launch_bounds__(kHopperThreads) FusedAttentionDkDvHopperKernel(
    const __grid_constant__ CUtensorMap qkv_map, const __grid_constant__ CUtensorMap dout_map,
    const float* __restrict__ lse, const float* __restrict__ dvec, bf16_t* __restrict__ dqkv, int N, int H,
    float scale, float scale_log2) {
#if !defined(__CUDA_ARCH__) || defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const HopperSmem<2> sm{(sm90::SmemAddr(smem_raw) + 1023) & ~1023u};  // Fixed: K, V; First, Second: Q, dO
  const int j0 = blockIdx.x * kBlock, h = blockIdx.y, b = blockIdx.z, nqt = (N + kBlock - 1) / kBlock;
  if (threadIdx.x == 0) HopperInitBarriers(sm);
  __syncthreads();
  if (__shfl_sync(0xffffffffu, threadIdx.x / 128, 0) == 0) {  // warp-uniform: see the forward
    if (threadIdx.x == 0)
      HopperProduce(sm, {{&qkv_map, (H + h) * kHopperD}, {&qkv_map, (2 * H + h) * kHopperD}}, b * N + j0,
                    {&qkv_map, h * kHopperD}, {&dout_map, h * kHopperD}, b * N, nqt);
    return;
  }

  const int i = threadIdx.x - 128, warp = i / 32, gr = (i % 32) / 4, t = i % 4;
  const float* lse_g = lse + (int64_t(b) * H + h) * N;
  const float* d_g = dvec + (int64_t(b) * H + h) * N;
  float dk[32], dv[32], s[32], dp[32];
  for (int e = 0; e < 32; ++e) dk[e] = dv[e] = 0.f;
  sm90::MbarrierWait(sm.FixedFull(), 0);
  for (int it = 0; it < nqt; ++it) {
    const int st = it % kHopperStages;
    sm90::MbarrierWait(sm.Full(st), (it / kHopperStages) & 1);
    // S^T = K Q^T and dP^T = V dO^T (64 keys x 64 queries, k = the head dim).
    sm90::WgmmaFence();
#pragma unroll
    for (int ks = 0; ks < kHopperD / 16; ++ks)
      sm90::WgmmaSS(s, TileKMajor(sm.Fixed(0), ks), TileKMajor(sm.First(st), ks), /*accumulate=*/ks > 0);
#pragma unroll
    for (int ks = 0; ks < kHopperD / 16; ++ks)
      sm90::WgmmaSS(dp, TileKMajor(sm.Fixed(1), ks), TileKMajor(sm.Second(st), ks), /*accumulate=*/ks > 0);
    sm90::WgmmaCommit();
    // The statistics of this lane's 16 query columns 8c + 2t + u (registers 4c + u and 4c + 2 + u) while the
    // wgmma run.
    float lcol[16], dcol[16];
#pragma unroll
    for (int c = 0; c < 16; ++c) {
      const int q = it * kBlock + 8 * (c / 2) + 2 * t + c % 2;
      lcol[c] = q < N ? lse_g[q] * kLog2e : INFINITY;
      dcol[c] = q < N ? d_g[q] : 0.f;
    }
    sm90::WgmmaWait<0>();
    // P^T into s, dS^T = P^T (dP^T - D_i) into dp.
#pragma unroll
    for (int e = 0; e < 32; ++e) {
      const int c = 2 * (e / 4) + e % 2;
      s[e] = Exp2(s[e] * scale_log2 - lcol[c]);
      dp[e] = s[e] * (dp[e] - dcol[c]);
    }
    // dV += P^T dO and dK += dS^T Q (k = the 64 queries).
    uint32_t pa[kBlock / 16][4], da[kBlock / 16][4];
    HopperPackA(pa, s);
    HopperPackA(da, dp);
    sm90::WgmmaFence();
#pragma unroll
    for (int kk = 0; kk < kBlock / 16; ++kk)
      sm90::WgmmaRS</*kTransB=*/1>(dv, pa[kk], TileNMajor(sm.Second(st), kk), 1);
#pragma unroll
    for (int kk = 0; kk < kBlock / 16; ++kk)
      sm90::WgmmaRS</*kTransB=*/1>(dk, da[kk], TileNMajor(sm.First(st), kk), 1);
    sm90::WgmmaCommit();
    sm90::WgmmaWait<0>();
    sm90::MbarrierArrive(sm.Empty(st));  // the stage may be refilled
  }

  const int64_t ld3 = int64_t(3) * H * kHopperD;
  bf16_t* dk_g = dqkv + int64_t(b) * N * ld3 + int64_t(H + h) * kHopperD;
  const float dk_mul[2] = {scale, scale}, dv_mul[2] = {1.f, 1.f};
  HopperStoreRows(dk, dk_mul, dk_g, ld3, j0, N, warp, gr, t);
  HopperStoreRows(dv, dv_mul, dk_g + int64_t(H) * kHopperD, ld3, j0, N, warp, gr, t);
#endif
}

__global__ void __launch_bounds__(kHopperThreads) FusedAttentionDqHopperKernel(
    const __grid_constant__ CUtensorMap qkv_map, const __grid_constant__ CUtensorMap dout_map,
    const float* __restrict__ lse, const float* __restrict__ dvec, bf16_t* __restrict__ dqkv, int N, int H,
    float scale, float scale_log2) {
#if !defined(__CUDA_ARCH__) || defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const HopperSmem<2> sm{(sm90::SmemAddr(smem_raw) + 1023) & ~1023u};  // Fixed: Q, dO; First, Second: K, V
  const int q0 = blockIdx.x * kBlock, h = blockIdx.y, b = blockIdx.z, nkt = (N + kBlock - 1) / kBlock;
  if (threadIdx.x == 0) HopperInitBarriers(sm);
  __syncthreads();
  if (__shfl_sync(0xffffffffu, threadIdx.x / 128, 0) == 0) {
    if (threadIdx.x == 0)
      HopperProduce(sm, {{&qkv_map, h * kHopperD}, {&dout_map, h * kHopperD}}, b * N + q0,
                    {&qkv_map, (H + h) * kHopperD}, {&qkv_map, (2 * H + h) * kHopperD}, b * N, nkt);
    return;
  }

  const int i = threadIdx.x - 128, warp = i / 32, gr = (i % 32) / 4, t = i % 4;
  // This lane's rows gr, gr + 8: lse in the log2 domain and D (rows past N: P = 0, never stored).
  float lse2[2], drow[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = q0 + 16 * warp + gr + 8 * r;
    lse2[r] = row < N ? lse[(int64_t(b) * H + h) * N + row] * kLog2e : INFINITY;
    drow[r] = row < N ? dvec[(int64_t(b) * H + h) * N + row] : 0.f;
  }
  float dq[32], s[32], dp[32];
  for (int e = 0; e < 32; ++e) dq[e] = 0.f;
  sm90::MbarrierWait(sm.FixedFull(), 0);
  for (int kt = 0; kt < nkt; ++kt) {
    const int st = kt % kHopperStages, j0 = kt * kBlock;
    sm90::MbarrierWait(sm.Full(st), (kt / kHopperStages) & 1);
    // S = Q K^T and dP = dO V^T (64 queries x 64 keys, k = the head dim).
    sm90::WgmmaFence();
#pragma unroll
    for (int ks = 0; ks < kHopperD / 16; ++ks)
      sm90::WgmmaSS(s, TileKMajor(sm.Fixed(0), ks), TileKMajor(sm.First(st), ks), /*accumulate=*/ks > 0);
#pragma unroll
    for (int ks = 0; ks < kHopperD / 16; ++ks)
      sm90::WgmmaSS(dp, TileKMajor(sm.Fixed(1), ks), TileKMajor(sm.Second(st), ks), /*accumulate=*/ks > 0);
    sm90::WgmmaCommit();
    sm90::WgmmaWait<0>();
    // dS = P (dP - D) into dp, with P = 0 for keys >= N (the last tile only).
    const bool partial = j0 + kBlock > N;
#pragma unroll
    for (int e = 0; e < 32; ++e) {
      const int r = (e / 2) & 1;
      float p = Exp2(s[e] * scale_log2 - lse2[r]);
      if (partial && j0 + 8 * (e / 4) + 2 * t + (e & 1) >= N) p = 0.f;
      dp[e] = p * (dp[e] - drow[r]);
    }
    // dQ += dS K (k = the 64 keys).
    uint32_t da[kBlock / 16][4];
    HopperPackA(da, dp);
    sm90::WgmmaFence();
#pragma unroll
    for (int kk = 0; kk < kBlock / 16; ++kk)
      sm90::WgmmaRS</*kTransB=*/1>(dq, da[kk], TileNMajor(sm.First(st), kk), 1);
    sm90::WgmmaCommit();
    sm90::WgmmaWait<0>();
    sm90::MbarrierArrive(sm.Empty(st));
  }

  const float mul[2] = {scale, scale};
  HopperStoreRows(dq, mul, dqkv + int64_t(b) * N * (int64_t(3) * H * kHopperD) + int64_t(h) * kHopperD,
                  int64_t(3) * H * kHopperD, q0, N, warp, gr, t);
#endif
}

// ---- Host -------------------------------------------------------------------------------------------

// bf16 tensors are read and written in 16-byte chunks; fp32 ones (lse, scratch) need only 4 bytes.
void CheckArgs(const char* what, int64_t B, int64_t N, int64_t H, int64_t D,
               std::initializer_list<const void*> bf16_pointers, std::initializer_list<const void*> f32_pointers) {
  if (!FusedAttentionSupported(D))
    throw Error(std::string(what) + ": head dim " + std::to_string(D) +
                             " is not compiled (FusedAttentionSupported)");
  if (B > 65535 || H > 65535 || N > (int64_t(1) << 30))
    throw Error(std::string(what) + ": batch " + std::to_string(B) + ", heads " + std::to_string(H) +
                             ", tokens " + std::to_string(N) + " exceed the grid limits");
  for (const void* p : bf16_pointers)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0)
      throw Error(std::string(what) + ": bf16 pointers must be 16-byte aligned");
  for (const void* p : f32_pointers)
    if (reinterpret_cast<uintptr_t>(p) % 4 != 0)
      throw Error(std::string(what) + ": fp32 pointers must be 4-byte aligned");
}

// Opts a kernel into more than 48 KiB of dynamic shared memory, once per (device, kernel): the attribute
// is per device, and setting it on every launch would add host time to the short S = 37 calls.
void AllowSmem(const void* kernel, int bytes) {
  static std::mutex mu;
  static std::set<std::pair<int, const void*>> done;
  const std::pair<int, const void*> key{CurrentDevice(), kernel};
  std::lock_guard<std::mutex> lock(mu);
  if (done.count(key)) return;
  VFM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  done.insert(key);
}

dim3 GridFor(int64_t B, int64_t N, int64_t H) {
  return dim3(unsigned((N + kBlock - 1) / kBlock), unsigned(H), unsigned(B));
}

template <int kD>
void LaunchForward(const bf16* qkv, bf16* out, float* lse, int64_t B, int64_t N, int64_t H, float scale) {
  constexpr int kSmem = Cfg<kD>::kForwardSmem;
  AllowSmem(reinterpret_cast<const void*>(&FusedAttentionForwardKernel<kD>), kSmem);
  FusedAttentionForwardKernel<kD><<<GridFor(B, N, H), kThreads, kSmem, Compute()>>>(Dev(qkv), Dev(out), lse, int(N),
                                                                                      int(H), scale * kLog2e);
  VFM_CUDA_LAUNCHED("FusedAttentionForwardKernel");
}

// The Hopper kernels' refusals beyond CheckArgs': head dim 64 only, sm_90 devices only.
void CheckHopper(const char* what, int64_t head_dim) {
  if (head_dim != kHopperD)
    throw Error(std::string(what) + ": head dim " + std::to_string(head_dim) + " (only 64 is compiled)");
  if (ComputeCapability() != 90)
    throw Error(std::string(what) + ": needs an sm_90 device (H100/H200), this one is sm_" +
                std::to_string(ComputeCapability()));
}

// A TMA map of a row-major bf16 matrix [rows][cols] (qkv as [B*N, 3*H*D], dO as [B*N, H*D]): boxes of 64 rows x D
// (one Hopper tile), 128B-swizzled; rows past `rows` read as zeros.
CUtensorMap HopperTileMap(const bf16* m, int64_t rows, int64_t cols, const char* what, const char* name) {
  CUtensorMap map;
  const cuuint64_t dim[2] = {cuuint64_t(cols), cuuint64_t(rows)};
  const cuuint64_t stride[1] = {cuuint64_t(cols * 2)};
  const cuuint32_t box[2] = {cuuint32_t(kHopperD), cuuint32_t(kBlock)}, one[2] = {1, 1};
  if (sm90::TensorMapEncoder()(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<bf16*>(m), dim, stride, box,
                               one, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                               CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
    throw Error(std::string(what) + ": cuTensorMapEncodeTiled rejected the map of " + name);
  return map;
}

void LaunchForwardHopper(const bf16* qkv, bf16* out, float* lse, int64_t B, int64_t N, int64_t H, float scale) {
  const CUtensorMap map = HopperTileMap(qkv, B * N, 3 * H * kHopperD, "FusedAttentionForwardHopper", "qkv");
  constexpr int kSmem = HopperSmem<1>::kBytes;
  AllowSmem(reinterpret_cast<const void*>(&FusedAttentionForwardHopperKernel), kSmem);
  FusedAttentionForwardHopperKernel<<<GridFor(B, N, H), kHopperThreads, kSmem, Compute()>>>(
      map, Dev(out), lse, int(N), int(H), scale * kLog2e);
  VFM_CUDA_LAUNCHED("FusedAttentionForwardHopperKernel");
}

// dvec = D = rowsum(dO * O), [B, H, N].
template <int kD>
void LaunchRowDot(const bf16* out, const bf16* dout, float* dvec, int64_t B, int64_t N, int64_t H) {
  const int64_t rows = B * N * H;
  constexpr int kRowThreads = 256;
  FusedAttentionRowDotKernel<kD><<<BlocksFor(rows * (kD / 8), kRowThreads), kRowThreads, 0, Compute()>>>(
      Dev(dout), Dev(out), dvec, rows, int(N), int(H));
  VFM_CUDA_LAUNCHED("FusedAttentionRowDotKernel");
}

template <int kD>
void LaunchBackward(const bf16* qkv, const bf16* out, const bf16* dout, const float* lse, bf16* dqkv, int64_t B,
                    int64_t N, int64_t H, float scale, float* dvec) {
  LaunchRowDot<kD>(out, dout, dvec, B, N, H);

  constexpr int kDkDvSmem = Cfg<kD>::kDkDvSmem, kDqSmem = Cfg<kD>::kDqSmem;
  AllowSmem(reinterpret_cast<const void*>(&FusedAttentionDkDvKernel<kD>), kDkDvSmem);
  FusedAttentionDkDvKernel<kD><<<GridFor(B, N, H), kThreads, kDkDvSmem, Compute()>>>(
      Dev(qkv), Dev(dout), lse, dvec, Dev(dqkv), int(N), int(H), scale, scale * kLog2e);
  VFM_CUDA_LAUNCHED("FusedAttentionDkDvKernel");

  AllowSmem(reinterpret_cast<const void*>(&FusedAttentionDqKernel<kD>), kDqSmem);
  FusedAttentionDqKernel<kD><<<GridFor(B, N, H), kThreads, kDqSmem, Compute()>>>(
      Dev(qkv), Dev(dout), lse, dvec, Dev(dqkv), int(N), int(H), scale, scale * kLog2e);
  VFM_CUDA_LAUNCHED("FusedAttentionDqKernel");
}

void LaunchBackwardHopper(const bf16* qkv, const bf16* out, const bf16* dout, const float* lse, bf16* dqkv, int64_t B,
                          int64_t N, int64_t H, float scale, float* dvec) {
  LaunchRowDot<kHopperD>(out, dout, dvec, B, N, H);
  constexpr const char* kWhat = "FusedAttentionBackwardHopper";
  const CUtensorMap qkv_map = HopperTileMap(qkv, B * N, 3 * H * kHopperD, kWhat, "qkv");
  const CUtensorMap dout_map = HopperTileMap(dout, B * N, H * kHopperD, kWhat, "dout");
  constexpr int kSmem = HopperSmem<2>::kBytes;
  AllowSmem(reinterpret_cast<const void*>(&FusedAttentionDkDvHopperKernel), kSmem);
  FusedAttentionDkDvHopperKernel<<<GridFor(B, N, H), kHopperThreads, kSmem, Compute()>>>(
      qkv_map, dout_map, lse, dvec, Dev(dqkv), int(N), int(H), scale, scale * kLog2e);
  VFM_CUDA_LAUNCHED("FusedAttentionDkDvHopperKernel");
  AllowSmem(reinterpret_cast<const void*>(&FusedAttentionDqHopperKernel), kSmem);
  FusedAttentionDqHopperKernel<<<GridFor(B, N, H), kHopperThreads, kSmem, Compute()>>>(
      qkv_map, dout_map, lse, dvec, Dev(dqkv), int(N), int(H), scale, scale * kLog2e);
  VFM_CUDA_LAUNCHED("FusedAttentionDqHopperKernel");
}

}  // namespace

bool FusedAttentionSupported(int64_t head_dim) { return head_dim == 32 || head_dim == 64; }

void FusedAttentionForward(const bf16* qkv, bf16* out, float* lse, int64_t batch, int64_t tokens, int64_t heads,
                           int64_t head_dim, float scale) {
  if (batch <= 0 || tokens <= 0 || heads <= 0) return;
  CheckArgs("FusedAttentionForward", batch, tokens, heads, head_dim, {qkv, out}, {lse});
  if (head_dim == 64)
    LaunchForward<64>(qkv, out, lse, batch, tokens, heads, scale);
  else
    LaunchForward<32>(qkv, out, lse, batch, tokens, heads, scale);
}

void FusedAttentionForwardHopper(const bf16* qkv, bf16* out, float* lse, int64_t batch, int64_t tokens,
                                 int64_t heads, int64_t head_dim, float scale) {
  if (batch <= 0 || tokens <= 0 || heads <= 0) return;
  CheckHopper("FusedAttentionForwardHopper", head_dim);
  CheckArgs("FusedAttentionForwardHopper", batch, tokens, heads, head_dim, {qkv, out}, {lse});
  LaunchForwardHopper(qkv, out, lse, batch, tokens, heads, scale);
}

size_t FusedAttentionBackwardScratchBytes(int64_t batch, int64_t tokens, int64_t heads) {
  const size_t n = size_t(std::max<int64_t>(batch, 0)) * size_t(std::max<int64_t>(tokens, 0)) *
                   size_t(std::max<int64_t>(heads, 0));
  return (n * sizeof(float) + 255) / 256 * 256;
}

void FusedAttentionBackward(const bf16* qkv, const bf16* out, const bf16* dout, const float* lse, bf16* dqkv,
                            int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, float scale,
                            void* scratch) {
  if (batch <= 0 || tokens <= 0 || heads <= 0) return;
  CheckArgs("FusedAttentionBackward", batch, tokens, heads, head_dim, {qkv, out, dout, dqkv}, {lse, scratch});
  float* dvec = static_cast<float*>(scratch);
  if (head_dim == 64)
    LaunchBackward<64>(qkv, out, dout, lse, dqkv, batch, tokens, heads, scale, dvec);
  else
    LaunchBackward<32>(qkv, out, dout, lse, dqkv, batch, tokens, heads, scale, dvec);
}

void FusedAttentionBackwardHopper(const bf16* qkv, const bf16* out, const bf16* dout, const float* lse, bf16* dqkv,
                                  int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, float scale,
                                  void* scratch) {
  if (batch <= 0 || tokens <= 0 || heads <= 0) return;
  CheckHopper("FusedAttentionBackwardHopper", head_dim);
  CheckArgs("FusedAttentionBackwardHopper", batch, tokens, heads, head_dim, {qkv, out, dout, dqkv}, {lse, scratch});
  LaunchBackwardHopper(qkv, out, dout, lse, dqkv, batch, tokens, heads, scale, static_cast<float*>(scratch));
}

}  // namespace vfm::cuda

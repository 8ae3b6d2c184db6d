// A 64 x N tile of C = A B (A 64 x K, B K x N, bf16; C fp32, row-major) the sm_90a way: TMA copies K-chunks
// of A and B into swizzled shared memory through a two-stage mbarrier pipeline (the first thread of warpgroup
// 0 produces), warpgroup 1 multiplies them with wgmma (both operands from shared memory through descriptors,
// or A from registers). Each operand is stored K-major (A as 64 x K, B as N x K, k contiguous) or MN-major
// (A as K x 64, B as K x N, the M or N index contiguous: wgmma's imm-trans 1, as P V's V is). Written as a kernel of kernels/cuda would be, for
// hopper_ptx_test.cc to run on the CPU emulator: it proves the wrappers of kernels/cuda/hopper.cuh and the
// layouts they assume, and its deliberately broken variants (Bug) prove the emulator catches each mistake.
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>

#include "kernels/cuda/hopper.cuh"

namespace wgmma_gemm {

using namespace vfm::cuda::sm90;

// One mistake each, as a kernel (or its host code) might make it.
enum class Bug {
  kNone,
  kNoFence,              // no wgmma.fence before the wgmma
  kNoWaitBeforeRelease,  // the stage handed back to the producer before wgmma.wait_group (waits after the loop)
  kNoWait,               // no wgmma.wait_group at all: the epilogue reads the accumulators unfinished
  kExpectTxShort,        // expect_tx announces half the stage's bytes
  kExpectTxLong,         // expect_tx announces 16 bytes more than the stage's
  kWrongParity,          // the consumer waits on the other phase parity
  kWarpSkipsWgmma,       // warp 3 of the warpgroup does not issue the wgmma
  kTransBMissing,        // B laid out MN-major, the wgmma told K-major (imm-trans-b 0)
  kOffsetsUnswapped,     // an MN-major swizzled operand described with the unswizzled roles of LBO and SBO
};

constexpr int kM = 64;        // rows of the tile (wgmma's M)
constexpr int kChunk = 64;    // k of one pipeline stage
constexpr int kStages = 2;
constexpr int kThreads = 256; // warpgroup 0: producer (one thread); warpgroup 1: consumer

// Shared memory of a stage for a swizzle span of kSpan bytes (16: none): a K-major operand as kChunk / (kSpan / 2)
// TMA boxes of (rows x kSpan bytes), an MN-major one as rows / (kSpan / 2) boxes of (kChunk k x kSpan bytes),
// box after box, every box 1024-byte aligned.
template <int N, int kSpan>
struct Layout {
  static constexpr int kABytes = kM * kChunk * 2;
  static constexpr int kStageBytes = kABytes + N * kChunk * 2;
  static constexpr int kBarriers = kStages * kStageBytes;           // full[kStages], then empty[kStages]
  static constexpr int kSmem = 1024 + kBarriers + 16 * kStages;     // 1024: room to align the base
};

// The descriptor of a K-major operand of `rows` rows at stage address `base`, for the k16 step at k0 of the
// chunk: its box and the 32-byte slice of that box's rows; without swizzling the step's second 8 k lie in the
// next box (LBO), swizzled the next 8 rows lie 8 rows of kSpan bytes on (SBO).
template <int kSpan>
__device__ __forceinline__ uint64_t OperandDesc(uint32_t base, int rows, int k0) {
  const uint32_t start = base + (k0 / (kSpan / 2)) * rows * kSpan + (k0 % (kSpan / 2)) * 2;
  return MatrixDescriptor(start, rows * 16, 8 * kSpan, kSpan);
}
// The same for an MN-major operand: the k16 step starts 16 rows (of kSpan bytes) into the first box; the next
// kSpan / 2 of the M or N index lie one box on, the next 8 k 8 rows on. Unswizzled those are SBO and LBO,
// swizzled LBO and SBO (PTX ISA 9.7.15.5.1.2.1).
template <int kSpan, Bug kBug = Bug::kNone>
__device__ __forceinline__ uint64_t OperandDescMN(uint32_t base, int k0) {
  const uint32_t start = base + k0 * kSpan, next_box = kChunk * kSpan, next_8k = 8 * kSpan;
  const bool unswizzled_roles = kSpan == 16 || kBug == Bug::kOffsetsUnswapped;
  return unswizzled_roles ? MatrixDescriptor(start, next_8k, next_box, kSpan)
                          : MatrixDescriptor(start, next_box, next_8k, kSpan);
}

// The shared address of A's element (r, k) of the chunk at `base`, as TMA laid it out: box k / (kSpan / 2), row r,
// then the swizzle's XOR of the 16-byte chunk with the 128-byte row (PTX ISA 9.7.15.5.1.2).
template <int kSpan>
__device__ __forceinline__ uint32_t ElementAddr(uint32_t base, int r, int k) {
  const uint32_t a = base + (k / (kSpan / 2)) * kM * kSpan + r * kSpan + (k % (kSpan / 2)) * 2;
  return kSpan == 16 ? a : a ^ ((a >> 3) & ((kSpan / 16 - 1) << 4));
}

// The producer's copies of one operand's chunk ch into the stage at dst: its boxes, one after another.
template <int kSpan, bool kMN>
__device__ __forceinline__ void LoadOperand(uint32_t dst, const CUtensorMap* map, int rows, int ch, uint32_t bar) {
  constexpr int kBox = kSpan / 2;  // elements of one box row
  if (kMN) {
    for (int j = 0; j < rows / kBox; ++j) TmaLoad2d(dst + j * kChunk * kSpan, map, j * kBox, ch * kChunk, bar);
  } else {
    for (int j = 0; j < kChunk / kBox; ++j) TmaLoad2d(dst + j * rows * kSpan, map, ch * kChunk + j * kBox, 0, bar);
  }
}

template <int N, int kSpan, Bug kBug, bool kARegs, bool kAMN, bool kBMN>
__global__ void __launch_bounds__(kThreads)
    GemmTileKernel(const __grid_constant__ CUtensorMap map_a, const __grid_constant__ CUtensorMap map_b, float* c,
                   int k) {
  using L = Layout<N, kSpan>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t raw = SmemAddr(smem_raw);
  const uint32_t base = (raw + 1023) & ~1023u;
  const unsigned char* smem = smem_raw + (base - raw);
  auto full = [&](int s) { return base + L::kBarriers + 8 * s; };
  auto empty = [&](int s) { return base + L::kBarriers + 8 * (kStages + s); };
  auto stage_a = [&](int s) { return base + s * L::kStageBytes; };
  auto stage_b = [&](int s) { return base + s * L::kStageBytes + L::kABytes; };
  const int chunks = k / kChunk;
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      MbarrierInit(full(s), 1);
      MbarrierInit(empty(s), 128);
    }
    FenceProxyAsync();
  }
  __syncthreads();

  if (threadIdx.x < 128) {  // producer: one thread issues every copy
    if (threadIdx.x != 0) return;
    for (int ch = 0; ch < chunks; ++ch) {
      const int s = ch % kStages;
      if (ch >= kStages) MbarrierWait(empty(s), (ch / kStages - 1) & 1);  // the consumer is done with it
      const int bytes = kBug == Bug::kExpectTxShort ? L::kStageBytes / 2
                        : kBug == Bug::kExpectTxLong ? L::kStageBytes + 16
                                                     : L::kStageBytes;
      MbarrierArriveExpectTx(full(s), bytes);
      LoadOperand<kSpan, kAMN>(stage_a(s), &map_a, kM, ch, full(s));
      LoadOperand<kSpan, kBMN>(stage_b(s), &map_b, N, ch, full(s));
    }
    return;
  }

  // Consumer warpgroup.
  const int i = threadIdx.x - 128, warp = i / 32, g = (i % 32) / 4, t = i % 4;
  float acc[N / 2];
  for (int e = 0; e < N / 2; ++e) acc[e] = 0.f;
  for (int ch = 0; ch < chunks; ++ch) {
    const int s = ch % kStages;
    MbarrierWait(full(s), ((ch / kStages) & 1) ^ (kBug == Bug::kWrongParity ? 1 : 0));
    if (kBug != Bug::kNoFence) WgmmaFence();
    for (int k0 = 0; k0 < kChunk; k0 += 16) {
      if (kBug == Bug::kWarpSkipsWgmma && warp == 3) continue;
      const uint64_t desc_b =
          kBMN ? OperandDescMN<kSpan, kBug>(stage_b(s), k0) : OperandDesc<kSpan>(stage_b(s), N, k0);
      constexpr int kTransB = kBMN && kBug != Bug::kTransBMissing;
      if (kARegs) {  // A as mma.m16n8k16's fragment of the warp's 16 rows
        uint32_t a[4];
        for (int r = 0; r < 4; ++r) {
          const uint32_t at = ElementAddr<kSpan>(stage_a(s), 16 * warp + g + 8 * (r % 2), k0 + 2 * t + 8 * (r / 2));
          a[r] = *reinterpret_cast<const uint32_t*>(smem + (at - base));
        }
        WgmmaRS<kTransB>(acc, a, desc_b, 1);
      } else {
        const uint64_t desc_a = kAMN ? OperandDescMN<kSpan>(stage_a(s), k0) : OperandDesc<kSpan>(stage_a(s), kM, k0);
        WgmmaSS<kAMN, kTransB>(acc, desc_a, desc_b, 1);
      }
    }
    WgmmaCommit();
    if (kBug != Bug::kNoWaitBeforeRelease && kBug != Bug::kNoWait) WgmmaWait<0>();
    MbarrierArrive(empty(s));  // every consumer thread: the stage may be refilled
  }
  if (kBug == Bug::kNoWaitBeforeRelease) WgmmaWait<0>();
  for (int e = 0; e < N / 2; ++e)
    c[(16 * warp + g + 8 * ((e / 2) % 2)) * N + 8 * (e / 4) + 2 * t + e % 2] = acc[e];
}

// The TMA swizzle of a span of kSpan bytes (16: none).
inline CUtensorMapSwizzle MapSwizzle(int span) {
  return span == 128 ? CU_TENSOR_MAP_SWIZZLE_128B
         : span == 64 ? CU_TENSOR_MAP_SWIZZLE_64B
         : span == 32 ? CU_TENSOR_MAP_SWIZZLE_32B
                      : CU_TENSOR_MAP_SWIZZLE_NONE;
}

// cuTensorMapEncodeTiled is the driver API's (libcuda); taken through the runtime, so that a binary with this
// kernel does not link libcuda and still loads where there is no GPU driver.
inline decltype(&cuTensorMapEncodeTiled) TensorMapEncoder() {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found{};
  if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found) !=
          cudaSuccess || found != cudaDriverEntryPointSuccess)
    throw std::runtime_error("wgmma_gemm: the CUDA driver offers no cuTensorMapEncodeTiled");
  return reinterpret_cast<decltype(&cuTensorMapEncodeTiled)>(fn);
}

// A 2-D bf16 tensor map over a rows x cols row-major matrix, boxes of (box_cols x box_rows).
inline CUtensorMap MapOf(const __nv_bfloat16* p, int rows, int cols, int box_cols, int box_rows,
                         CUtensorMapSwizzle swizzle) {
  CUtensorMap map;
  const cuuint64_t dim[2] = {cuuint64_t(cols), cuuint64_t(rows)}, stride[1] = {cuuint64_t(cols) * 2};
  const cuuint32_t box[2] = {cuuint32_t(box_cols), cuuint32_t(box_rows)}, one[2] = {1, 1};
  if (TensorMapEncoder()(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<__nv_bfloat16*>(p), dim, stride,
                         box, one, CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                         CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
    throw std::runtime_error("wgmma_gemm: cuTensorMapEncodeTiled rejected the map");
  return map;
}

// The map of an operand of `rows` M or N indices over k: K-major (rows x k) in boxes of kSpan / 2 k, or
// MN-major (k x rows) in boxes of kSpan / 2 of the M or N index by kChunk k.
template <int kSpan>
CUtensorMap OperandMap(const __nv_bfloat16* p, bool mn_major, int rows, int k, CUtensorMapSwizzle swizzle) {
  return mn_major ? MapOf(p, k, rows, kSpan / 2, kChunk, swizzle) : MapOf(p, rows, k, kSpan / 2, rows, swizzle);
}

// c (64 x N) = A B, k a multiple of kChunk: a is A (64 x k), or A^T (k x 64) if kAMN; b is B^T (N x k), or B
// (k x N) if kBMN. tma_swizzle is the maps' (kSpan's unless a test breaks it on purpose).
template <int N, int kSpan, Bug kBug = Bug::kNone, bool kARegs = false, bool kAMN = false, bool kBMN = false>
void GemmTile(const __nv_bfloat16* a, const __nv_bfloat16* b, float* c, int k, CUtensorMapSwizzle tma_swizzle) {
  static_assert(!(kARegs && kAMN), "A from registers is the warp's fragment, read K-major");
  const CUtensorMap map_a = OperandMap<kSpan>(a, kAMN, kM, k, tma_swizzle);
  const CUtensorMap map_b = OperandMap<kSpan>(b, kBMN, N, k, tma_swizzle);
  auto* kernel = &GemmTileKernel<N, kSpan, kBug, kARegs, kAMN, kBMN>;
  if (cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), cudaFuncAttributeMaxDynamicSharedMemorySize,
                           Layout<N, kSpan>::kSmem) != cudaSuccess)
    throw std::runtime_error("wgmma_gemm: shared memory opt-in refused");
  GemmTileKernel<N, kSpan, kBug, kARegs, kAMN, kBMN><<<1, kThreads, Layout<N, kSpan>::kSmem>>>(map_a, map_b, c, k);
}

}  // namespace wgmma_gemm

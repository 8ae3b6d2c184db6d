// A 64 x N tile of C = A B^T (A 64 x K, B N x K, bf16, row-major; C fp32, row-major) the sm_90a way: TMA
// copies K-chunks of A and B into swizzled shared memory through a two-stage mbarrier pipeline (the first
// thread of warpgroup 0 produces), warpgroup 1 multiplies them with wgmma (both operands from shared memory
// through descriptors, or A from registers). Written as a kernel of kernels/cuda would be, for
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
};

constexpr int kM = 64;        // rows of the tile (wgmma's M)
constexpr int kChunk = 64;    // k of one pipeline stage
constexpr int kStages = 2;
constexpr int kThreads = 256; // warpgroup 0: producer (one thread); warpgroup 1: consumer

// Shared memory of a stage for a swizzle span of kSpan bytes (16: none): each operand as kChunk / (kSpan / 2)
// TMA boxes of (rows x kSpan bytes), box after box, every box 1024-byte aligned.
template <int N, int kSpan>
struct Layout {
  static constexpr int kBoxK = kSpan / 2;  // k elements in one box row
  static constexpr int kBoxes = kChunk / kBoxK;
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

// The shared address of A's element (r, k) of the chunk at `base`, as TMA laid it out: box k / kBoxK, row r,
// then the swizzle's XOR of the 16-byte chunk with the 128-byte row (PTX ISA 9.7.15.5.1.2).
template <int kSpan>
__device__ __forceinline__ uint32_t ElementAddr(uint32_t base, int r, int k) {
  const uint32_t a = base + (k / (kSpan / 2)) * kM * kSpan + r * kSpan + (k % (kSpan / 2)) * 2;
  return kSpan == 16 ? a : a ^ ((a >> 3) & ((kSpan / 16 - 1) << 4));
}

template <int N, int kSpan, Bug kBug, bool kARegs>
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
      for (int j = 0; j < L::kBoxes; ++j) {
        TmaLoad2d(stage_a(s) + j * kM * kSpan, &map_a, ch * kChunk + j * L::kBoxK, 0, full(s));
        TmaLoad2d(stage_b(s) + j * N * kSpan, &map_b, ch * kChunk + j * L::kBoxK, 0, full(s));
      }
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
      const uint64_t desc_b = OperandDesc<kSpan>(stage_b(s), N, k0);
      if (kARegs) {  // A as mma.m16n8k16's fragment of the warp's 16 rows
        uint32_t a[4];
        for (int r = 0; r < 4; ++r) {
          const uint32_t at = ElementAddr<kSpan>(stage_a(s), 16 * warp + g + 8 * (r % 2), k0 + 2 * t + 8 * (r / 2));
          a[r] = *reinterpret_cast<const uint32_t*>(smem + (at - base));
        }
        WgmmaRS(acc, a, desc_b, 1);
      } else {
        WgmmaSS(acc, OperandDesc<kSpan>(stage_a(s), kM, k0), desc_b, 1);
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

// A 2-D bf16 tensor map over a rows x k row-major matrix, boxes of (box_k x rows).
inline CUtensorMap MapOf(const __nv_bfloat16* p, int rows, int k, int box_k, CUtensorMapSwizzle swizzle) {
  CUtensorMap map;
  const cuuint64_t dim[2] = {cuuint64_t(k), cuuint64_t(rows)}, stride[1] = {cuuint64_t(k) * 2};
  const cuuint32_t box[2] = {cuuint32_t(box_k), cuuint32_t(rows)}, one[2] = {1, 1};
  if (cuTensorMapEncodeTiled(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<__nv_bfloat16*>(p), dim, stride,
                             box, one, CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                             CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
    throw std::runtime_error("wgmma_gemm: cuTensorMapEncodeTiled rejected the map");
  return map;
}

// c (64 x N) = a (64 x k) b (N x k)^T, k a multiple of kChunk; tma_swizzle is the maps' (kSpan's unless a test
// breaks it on purpose).
template <int N, int kSpan, Bug kBug = Bug::kNone, bool kARegs = false>
void GemmTile(const __nv_bfloat16* a, const __nv_bfloat16* b, float* c, int k, CUtensorMapSwizzle tma_swizzle) {
  const CUtensorMap map_a = MapOf(a, kM, k, kSpan / 2, tma_swizzle), map_b = MapOf(b, N, k, kSpan / 2, tma_swizzle);
  if (cudaFuncSetAttribute(reinterpret_cast<const void*>(&GemmTileKernel<N, kSpan, kBug, kARegs>),
                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                           Layout<N, kSpan>::kSmem) != cudaSuccess)
    throw std::runtime_error("wgmma_gemm: shared memory opt-in refused");
  GemmTileKernel<N, kSpan, kBug, kARegs><<<1, kThreads, Layout<N, kSpan>::kSmem>>>(map_a, map_b, c, k);
}

}  // namespace wgmma_gemm

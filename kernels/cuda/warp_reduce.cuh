// Warp and block sums for the kernels' reductions (row norms, softmax denominators, partial sums), in
// fp32 and a fixed order: the same inputs give the same bits on every run.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace vfm::cuda {

// Sum over the 32 lanes of a warp; every lane gets it.
__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it. `shared` holds
// 32 floats; the leading barrier lets a caller reuse it for consecutive reductions.
__device__ __forceinline__ float BlockSum(float v, float* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = WarpSum(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = WarpSum(lane < warps ? shared[lane] : 0.0f);
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  return shared[0];
}

// Column sums of a [rows, cols] fp32 table (per-chunk partial sums, as the deterministic column
// reductions write them), in a fixed order, for a block of (32, kTableLanes) threads: thread (x, y) adds
// rows y, y + kTableLanes, ... of column `col` (threadIdx.x = consecutive columns: coalesced loads),
// then the 32 lanes' sums meet in a fixed tree through `shared`. Every thread of the block must call it
// (it synchronises); the total is returned to all of them (0 for col >= cols).
constexpr int kTableLanes = 32;
__device__ __forceinline__ float SumTableColumn(const float* table, int64_t rows, int64_t cols, int64_t col,
                                                float (*shared)[33]) {
  float s = 0.f;
  if (col < cols)
    for (int64_t r = threadIdx.y; r < rows; r += kTableLanes) s += table[r * cols + col];
  shared[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  for (int half = kTableLanes / 2; half > 0; half >>= 1) {
    if (threadIdx.y < half) shared[threadIdx.y][threadIdx.x] += shared[threadIdx.y + half][threadIdx.x];
    __syncthreads();
  }
  const float total = shared[0][threadIdx.x];
  __syncthreads();  // `shared` may be reused by the caller's next call
  return total;
}

}  // namespace vfm::cuda

// Warp and block sums for the kernels' reductions (row norms, softmax denominators, partial sums), in
// fp32 and a fixed order: the same inputs give the same bits on every run.
#pragma once
#include <cuda_runtime.h>

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

}  // namespace vfm::cuda

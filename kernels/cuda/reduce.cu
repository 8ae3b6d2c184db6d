// Sums over a middle axis on the GPU: out[o, i] = sum_k x[o, k, i], the CUDA counterpart of
// kernels/cpu/reduce.h (same math; the CPU file is the reference). fp32 accumulation, deterministic.
//
// Work split:
// - inner == 1 (sums of rows, e.g. the sum of all elements): one block per output
//   (grid-stride over outputs); each thread sums a strided subset of the row serially in fp32, then a
//   warp-shuffle tree and a tree over the warps' partials in shared memory give the total in a fixed
//   order (deterministic). Few long rows (the loss's sum over [rows, K] is one row of 60M elements)
//   would leave all but a few SMs idle, so there each row is first cut into fixed chunks of 16384,
//   one block per chunk writing an fp32 partial, and a second pass sums each row's partials in order
//   (still deterministic: the chunking depends only on the shape). Measured on the H200: the one-block
//   sum of a ViT-B step's patch loss took 24 ms.
// - inner > 1 (sums over a leading/middle dimension, e.g. gradients of broadcast
//   operands): one block per tile of 32 consecutive outputs of one outer row; blockDim.y = rows (a
//   power of two <= 32, at most n rounded up) threads split the n summands of each output
//   (k = ty, ty + rows, ...), reading 32 consecutive elements per row (coalesced); the rows' partials
//   are then added by a fixed shared-memory tree over y (deterministic).
#include "kernels/cuda/reduce.h"

#include <algorithm>
#include <stdexcept>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/warp_reduce.cuh"
#include "kernels/cuda/runtime.cuh"
#include "kernels/error.h"

namespace vfm::cuda {
namespace {

// inner == 1: out[o] = sum_k x[o * n + k]. One block per row.
template <typename In, typename Out>
__global__ void SumRowsKernel(const In* x, Out* out, int64_t outer, int64_t n) {
  __shared__ float warp_sums[32];
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const In* row = x + o * n;
    float s = 0.f;
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) s += ToFloat(row[k]);
    s = BlockSum(s, warp_sums);
    if (threadIdx.x == 0) out[o] = FromFloat<Out>(s);
    __syncthreads();  // warp_sums is rewritten by the next row
  }
}

// First pass for few long rows: partial[o * chunks + c] = sum of chunk c of row o (blockIdx.x = c,
// blockIdx.y = o).
constexpr int64_t kRowChunk = 16384;
template <typename D>
__global__ void SumRowChunksKernel(const D* x, float* partial, int64_t n, int64_t chunks) {
  __shared__ float warp_sums[32];
  const int64_t o = blockIdx.y, c = blockIdx.x;
  const D* row = x + o * n;
  const int64_t end = (c + 1) * kRowChunk < n ? (c + 1) * kRowChunk : n;
  float s = 0.f;
  for (int64_t k = c * kRowChunk + threadIdx.x; k < end; k += blockDim.x) s += ToFloat(row[k]);
  s = BlockSum(s, warp_sums);
  if (threadIdx.x == 0) partial[o * chunks + c] = s;
}

// The partials' buffer: one per device, kPartials floats (4 MiB), allocated once; the chunked path is
// taken for at most kMaxChunkedRows rows whose partials fit.
constexpr int64_t kMaxChunkedRows = 256, kPartials = int64_t(1) << 20;
float* RowChunkPartials() {
  static float* buffers[64] = {};
  const int device = CurrentDevice();
  if (!buffers[device])
    buffers[device] = static_cast<float*>(DeviceMalloc(sizeof(float) * kPartials));
  if (!buffers[device]) throw Error("SumMiddleAxis: out of device memory for the row partials");
  return buffers[device];
}

constexpr int kTileX = 32, kMaxRowsY = 32;

// inner > 1: out[o, i] = sum_k x[(o * n + k) * inner + i]. Block (32, rows) per tile of 32 outputs.
template <typename D>
__global__ void SumColumnsKernel(const D* x, D* out, int64_t outer, int64_t n, int64_t inner, int64_t tiles_per_row) {
  __shared__ float partial[kMaxRowsY][kTileX];
  const int tx = threadIdx.x, ty = threadIdx.y, rows = blockDim.y;
  const int64_t tiles = outer * tiles_per_row;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t o = t / tiles_per_row;
    const int64_t i = (t % tiles_per_row) * kTileX + tx;
    float s = 0.f;
    if (i < inner) {
      const D* col = x + o * n * inner + i;
      for (int64_t k = ty; k < n; k += rows) s += ToFloat(col[k * inner]);
    }
    partial[ty][tx] = s;
    __syncthreads();
    for (int h = rows / 2; h > 0; h >>= 1) {  // rows is a power of two
      if (ty < h) partial[ty][tx] += partial[ty + h][tx];
      __syncthreads();
    }
    if (ty == 0 && i < inner) out[o * inner + i] = FromFloat<D>(partial[0][tx]);
    __syncthreads();  // partial is rewritten by the next tile
  }
}

}  // namespace

template <typename T>
void SumMiddleAxis(const T* x, T* out, int64_t outer, int64_t n, int64_t inner) {
  if (outer == 0 || inner == 0) return;
  const int64_t chunks = (n + kRowChunk - 1) / kRowChunk;
  if (inner == 1 && outer <= kMaxChunkedRows && n > 4 * kRowChunk && outer * chunks <= kPartials) {
    float* partial = RowChunkPartials();
    SumRowChunksKernel<<<dim3(unsigned(chunks), unsigned(outer)), 256, 0, Compute()>>>(Dev(x), partial, n, chunks);
    VFM_CUDA_LAUNCHED("SumRowChunks");
    const int threads = int(std::min<int64_t>((chunks + 31) / 32 * 32, 1024));
    SumRowsKernel<<<unsigned(outer), threads, 0, Compute()>>>(partial, Dev(out), outer, chunks);
  } else if (inner == 1) {
    // Threads per row: the row rounded up to whole warps, at most 256 (1024 when there are few rows,
    // so a long single row, such as the sum of all elements, still keeps many loads in flight).
    const int64_t cap = outer >= 256 ? 256 : 1024;
    const int threads = int(std::min<int64_t>(std::max<int64_t>((n + 31) / 32 * 32, 32), cap));
    const unsigned blocks = unsigned(std::min<int64_t>(outer, 65535));
    SumRowsKernel<<<blocks, threads, 0, Compute()>>>(Dev(x), Dev(out), outer, n);
  } else {
    int rows = 1;
    while (rows < kMaxRowsY && rows < n) rows *= 2;
    const int64_t tiles_per_row = (inner + kTileX - 1) / kTileX;
    const unsigned blocks = unsigned(std::min<int64_t>(outer * tiles_per_row, 65535));
    SumColumnsKernel<<<blocks, dim3(kTileX, rows), 0, Compute()>>>(Dev(x), Dev(out), outer, n, inner, tiles_per_row);
  }
  VFM_CUDA_LAUNCHED("SumMiddleAxis");
}

template void SumMiddleAxis<float>(const float*, float*, int64_t, int64_t, int64_t);
template void SumMiddleAxis<bf16>(const bf16*, bf16*, int64_t, int64_t, int64_t);

}  // namespace vfm::cuda

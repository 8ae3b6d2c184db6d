// LayerNorm over the last dimension (C) on the GPU; the math is in kernels/cpu/layernorm.h:
//   mean = sum(x)/C,  rstd = 1/sqrt(sum((x-mean)^2)/C + eps),  xhat = (x-mean)*rstd,  y = xhat*w + b
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))  with dxhat = dy*w,
//   dw = sum_rows dy*xhat,  db = sum_rows dy.
// All arithmetic is fp32 whatever the storage type; mean and rstd are saved as fp32.
//
// Work split:
// - Forward and dx: one warp per row (8 rows per 256-thread block). The model's rows are short
//   (C = 192..1024) and many (B * tokens), so a warp per row keeps every lane busy without block-wide
//   synchronisation; sums use warp shuffles. Two passes for the variance (like the CPU) instead of sum
//   of squares, so large means do not cancel. When C is a multiple of 8, at most 1024, and the rows
//   are 16-byte aligned (the model's case), each lane loads its share of the row once, in packs of 8
//   with 16-byte accesses (elementwise.cuh), and keeps it in registers for both passes and the output;
//   otherwise lanes stride over the row one element at a time and re-read it (from L1).
// - dw, db: a sum over rows per column, done deterministically without float atomics. Kernel 1 gives
//   each block 32 column slots (threadIdx.x; a slot is one column, or a pack of 8 columns read with
//   16-byte loads when the packed path applies) and a fixed chunk of rows, split over 8 row lanes
//   (threadIdx.y); the 8 lane sums are added in a fixed order through shared memory and written to an
//   fp32 workspace [chunks, C] (dw partials, then db partials). Kernel 2 sums the chunks of each column
//   in a fixed order (32 threads per column, then a tree) and adds the result into dw / db. The
//   chunking depends only on (rows, C), so the result is bitwise reproducible run to run.
#include "kernels/cuda/layernorm.h"

#include <algorithm>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/warp_reduce.cuh"
#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;  // rows per block in the row kernels (256 threads)
constexpr int kRowLanes = 8;       // threadIdx.y extent of the dw/db partial kernel
constexpr int64_t kMinRowsPerChunk = 64;
constexpr int64_t kMaxChunks = 512;

template <typename T>
__global__ void ForwardKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                              T* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd, int64_t rows,
                              int64_t C, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;  // uniform across the warp: the shuffles below see all 32 lanes
  const T* xr = x + row * C;
  T* yr = y + row * C;
  float s = 0;
  for (int64_t c = lane; c < C; c += 32) s += ToFloat(xr[c]);
  const float m = WarpSum(s) / float(C);
  float v = 0;
  for (int64_t c = lane; c < C; c += 32) {
    const float d = ToFloat(xr[c]) - m;
    v += d * d;
  }
  const float rs = 1.0f / sqrtf(WarpSum(v) / float(C) + eps);
  for (int64_t c = lane; c < C; c += 32)
    yr[c] = FromFloat<T>((ToFloat(xr[c]) - m) * rs * ToFloat(w[c]) + ToFloat(b[c]));
  if (lane == 0) {
    mean[row] = m;
    rstd[row] = rs;
  }
}

template <typename T>
__global__ void BackwardDxKernel(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ w,
                                 const float* __restrict__ mean, const float* __restrict__ rstd, T* __restrict__ dx,
                                 int64_t rows, int64_t C) {
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;  // uniform across the warp
  const T* xr = x + row * C;
  const T* dyr = dy + row * C;
  T* dxr = dx + row * C;
  const float m = mean[row], rs = rstd[row];
  float sum_dxhat = 0, sum_dxhat_xhat = 0;
  for (int64_t c = lane; c < C; c += 32) {
    const float xhat = (ToFloat(xr[c]) - m) * rs;
    const float dxhat = ToFloat(dyr[c]) * ToFloat(w[c]);
    sum_dxhat += dxhat;
    sum_dxhat_xhat += dxhat * xhat;
  }
  const float mean_dxhat = WarpSum(sum_dxhat) / float(C);
  const float mean_dxhat_xhat = WarpSum(sum_dxhat_xhat) / float(C);
  for (int64_t c = lane; c < C; c += 32) {
    const float xhat = (ToFloat(xr[c]) - m) * rs;
    dxr[c] = FromFloat<T>(rs * (ToFloat(dyr[c]) * ToFloat(w[c]) - mean_dxhat - xhat * mean_dxhat_xhat));
  }
}

// Block (32, kRowLanes); grid (ceil(C/32), chunks). partial layout: dw [chunks, C], then db [chunks, C].
template <typename T>
__global__ void BackwardPartialKernel(const T* __restrict__ dy, const T* __restrict__ x,
                                      const float* __restrict__ mean, const float* __restrict__ rstd,
                                      float* __restrict__ partial, int64_t rows, int64_t C, int64_t rows_per_chunk) {
  __shared__ float s_dw[kRowLanes][33];
  __shared__ float s_db[kRowLanes][33];
  const int64_t c = int64_t(blockIdx.x) * 32 + threadIdx.x;
  const int64_t begin = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t end = begin + rows_per_chunk < rows ? begin + rows_per_chunk : rows;
  float pdw = 0, pdb = 0;
  if (c < C) {
    for (int64_t r = begin + threadIdx.y; r < end; r += kRowLanes) {
      const float g = ToFloat(dy[r * C + c]);
      const float xhat = (ToFloat(x[r * C + c]) - mean[r]) * rstd[r];
      pdw += g * xhat;
      pdb += g;
    }
  }
  s_dw[threadIdx.y][threadIdx.x] = pdw;
  s_db[threadIdx.y][threadIdx.x] = pdb;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float sdw = 0, sdb = 0;
    for (int k = 0; k < kRowLanes; ++k) {
      sdw += s_dw[k][threadIdx.x];
      sdb += s_db[k][threadIdx.x];
    }
    const int64_t chunks = gridDim.y;
    partial[int64_t(blockIdx.y) * C + c] = sdw;
    partial[(chunks + blockIdx.y) * C + c] = sdb;
  }
}

// The packed forms (C % kPack == 0, 16-byte aligned rows): lane l holds packs l, l + 32, ... of its
// row, at most kLanePacks of them, in registers. The arithmetic per element is that of the kernels above.
template <typename T, int kLanePacks>
__global__ void ForwardPackedKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                                    T* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd,
                                    int64_t rows, int64_t C, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;  // uniform across the warp
  const int64_t packs = C / kPack;
  const T* xr = x + row * C;
  T* yr = y + row * C;
  float v[kLanePacks][kPack];
  float s = 0;
#pragma unroll
  for (int k = 0; k < kLanePacks; ++k) {
    const int64_t p = lane + 32 * k;
    if (p >= packs) continue;
    LoadPack(xr + p * kPack, v[k]);
    for (int j = 0; j < kPack; ++j) s += v[k][j];
  }
  const float m = WarpSum(s) / float(C);
  float var = 0;
#pragma unroll
  for (int k = 0; k < kLanePacks; ++k) {
    if (lane + 32 * k >= packs) continue;
    for (int j = 0; j < kPack; ++j) {
      const float d = v[k][j] - m;
      var += d * d;
    }
  }
  const float rs = 1.0f / sqrtf(WarpSum(var) / float(C) + eps);
#pragma unroll
  for (int k = 0; k < kLanePacks; ++k) {
    const int64_t p = lane + 32 * k;
    if (p >= packs) continue;
    float wv[kPack], bv[kPack];
    LoadPack(w + p * kPack, wv);
    LoadPack(b + p * kPack, bv);
    for (int j = 0; j < kPack; ++j) v[k][j] = (v[k][j] - m) * rs * wv[j] + bv[j];
    StorePack(yr + p * kPack, v[k]);
  }
  if (lane == 0) {
    mean[row] = m;
    rstd[row] = rs;
  }
}

template <typename T, int kLanePacks>
__global__ void BackwardDxPackedKernel(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ w,
                                       const float* __restrict__ mean, const float* __restrict__ rstd,
                                       T* __restrict__ dx, int64_t rows, int64_t C) {
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;  // uniform across the warp
  const int64_t packs = C / kPack;
  const float m = mean[row], rs = rstd[row];
  float xhat[kLanePacks][kPack], dxhat[kLanePacks][kPack];
  float sum_dxhat = 0, sum_dxhat_xhat = 0;
#pragma unroll
  for (int k = 0; k < kLanePacks; ++k) {
    const int64_t p = lane + 32 * k;
    if (p >= packs) continue;
    float wv[kPack];
    LoadPack(x + row * C + p * kPack, xhat[k]);
    LoadPack(dy + row * C + p * kPack, dxhat[k]);
    LoadPack(w + p * kPack, wv);
    for (int j = 0; j < kPack; ++j) {
      xhat[k][j] = (xhat[k][j] - m) * rs;
      dxhat[k][j] *= wv[j];
      sum_dxhat += dxhat[k][j];
      sum_dxhat_xhat += dxhat[k][j] * xhat[k][j];
    }
  }
  const float mean_dxhat = WarpSum(sum_dxhat) / float(C);
  const float mean_dxhat_xhat = WarpSum(sum_dxhat_xhat) / float(C);
#pragma unroll
  for (int k = 0; k < kLanePacks; ++k) {
    const int64_t p = lane + 32 * k;
    if (p >= packs) continue;
    for (int j = 0; j < kPack; ++j) xhat[k][j] = rs * (dxhat[k][j] - mean_dxhat - xhat[k][j] * mean_dxhat_xhat);
    StorePack(dx + row * C + p * kPack, xhat[k]);
  }
}

// Block (32, kRowLanes); grid (ceil(C / (32 * kPack)), chunks): thread x sums the 8 columns of pack
// blockIdx.x * 32 + x. Same partial layout as BackwardPartialKernel.
template <typename T>
__global__ void BackwardPartialPackedKernel(const T* __restrict__ dy, const T* __restrict__ x,
                                            const float* __restrict__ mean, const float* __restrict__ rstd,
                                            float* __restrict__ partial, int64_t rows, int64_t C,
                                            int64_t rows_per_chunk) {
  __shared__ float s_dw[kRowLanes][kPack][32];
  __shared__ float s_db[kRowLanes][kPack][32];
  const int64_t c0 = (int64_t(blockIdx.x) * 32 + threadIdx.x) * kPack;
  const int64_t begin = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t end = begin + rows_per_chunk < rows ? begin + rows_per_chunk : rows;
  float pdw[kPack] = {}, pdb[kPack] = {};
  if (c0 < C) {
    for (int64_t r = begin + threadIdx.y; r < end; r += kRowLanes) {
      float g[kPack], xv[kPack];
      LoadPack(dy + r * C + c0, g);
      LoadPack(x + r * C + c0, xv);
      const float m = mean[r], rs = rstd[r];
      for (int j = 0; j < kPack; ++j) {
        pdw[j] += g[j] * ((xv[j] - m) * rs);
        pdb[j] += g[j];
      }
    }
  }
  for (int j = 0; j < kPack; ++j) {
    s_dw[threadIdx.y][j][threadIdx.x] = pdw[j];
    s_db[threadIdx.y][j][threadIdx.x] = pdb[j];
  }
  __syncthreads();
  if (threadIdx.y == 0 && c0 < C) {
    float sdw[kPack] = {}, sdb[kPack] = {};
    for (int k = 0; k < kRowLanes; ++k)
      for (int j = 0; j < kPack; ++j) {
        sdw[j] += s_dw[k][j][threadIdx.x];
        sdb[j] += s_db[k][j][threadIdx.x];
      }
    const int64_t chunks = gridDim.y;
    StorePack(partial + int64_t(blockIdx.y) * C + c0, sdw);
    StorePack(partial + (chunks + blockIdx.y) * C + c0, sdb);
  }
}

// Block (32, kTableLanes) per 32 columns: sums each column's chunks (SumTableColumn: a fixed order
// spread over 32 lanes; one thread per column, 512 chunks in sequence, took 66 us a call on the H200)
// and accumulates into dw, db.
template <typename TW>
__global__ void BackwardFinishKernel(const float* __restrict__ partial, TW* __restrict__ dw, TW* __restrict__ db,
                                     int64_t chunks, int64_t C) {
  __shared__ float shared[kTableLanes][33];
  const int64_t c = int64_t(blockIdx.x) * 32 + threadIdx.x;
  const float sdw = SumTableColumn(partial, chunks, C, c, shared);
  const float sdb = SumTableColumn(partial + chunks * C, chunks, C, c, shared);
  if (threadIdx.y == 0 && c < C) {
    dw[c] = FromFloat<TW>(ToFloat(dw[c]) + sdw);
    db[c] = FromFloat<TW>(ToFloat(db[c]) + sdb);
  }
}

constexpr int64_t kMaxPackedC = 32 * kPack * 4;  // 4 packs per lane: C <= 1024

// Whether the packed kernels apply: rows of whole packs, 16-byte aligned (pointers and, as C is a
// multiple of 8, every row start).
template <typename... P>
bool Packed(int64_t C, const P*... pointers) {
  return C % kPack == 0 && (Aligned16(pointers) && ...);
}

int64_t ChunksFor(int64_t rows) {
  return std::clamp<int64_t>((rows + kMinRowsPerChunk - 1) / kMinRowsPerChunk, 1, kMaxChunks);
}

}  // namespace

template <typename T>
void LayerNormForward(const T* x, const T* w, const T* b, T* y, float* mean, float* rstd, int64_t rows, int64_t C,
                      double eps) {
  if (rows == 0 || C == 0) return;
  const unsigned grid = BlocksFor(rows, kWarpsPerBlock), threads = 32 * kWarpsPerBlock;
  const int64_t packs = C / kPack;
  if (Packed(C, x, w, b, y) && C <= kMaxPackedC) {
    if (packs <= 32)
      ForwardPackedKernel<DeviceType<T>, 1><<<grid, threads, 0, Compute()>>>(Dev(x), Dev(w), Dev(b), Dev(y), mean,
                                                                             rstd, rows, C, float(eps));
    else if (packs <= 64)
      ForwardPackedKernel<DeviceType<T>, 2><<<grid, threads, 0, Compute()>>>(Dev(x), Dev(w), Dev(b), Dev(y), mean,
                                                                             rstd, rows, C, float(eps));
    else
      ForwardPackedKernel<DeviceType<T>, 4><<<grid, threads, 0, Compute()>>>(Dev(x), Dev(w), Dev(b), Dev(y), mean,
                                                                             rstd, rows, C, float(eps));
  } else {
    ForwardKernel<<<grid, threads, 0, Compute()>>>(Dev(x), Dev(w), Dev(b), Dev(y), mean, rstd, rows, C, float(eps));
  }
  VFM_CUDA_LAUNCHED("LayerNormForward");
}

int64_t LayerNormBackwardWorkspace(int64_t rows, int64_t C) { return 2 * ChunksFor(rows) * C; }

template <typename T, typename TW>
void LayerNormBackward(const T* dy, const T* x, const T* w, const float* mean, const float* rstd, T* dx, TW* dw,
                       TW* db, int64_t rows, int64_t C, float* workspace) {
  if (rows == 0 || C == 0) return;
  const unsigned grid = BlocksFor(rows, kWarpsPerBlock), threads = 32 * kWarpsPerBlock;
  const int64_t packs = C / kPack;
  if (Packed(C, dy, x, w, dx) && C <= kMaxPackedC) {
    if (packs <= 32)
      BackwardDxPackedKernel<DeviceType<T>, 1><<<grid, threads, 0, Compute()>>>(Dev(dy), Dev(x), Dev(w), mean, rstd,
                                                                                Dev(dx), rows, C);
    else if (packs <= 64)
      BackwardDxPackedKernel<DeviceType<T>, 2><<<grid, threads, 0, Compute()>>>(Dev(dy), Dev(x), Dev(w), mean, rstd,
                                                                                Dev(dx), rows, C);
    else
      BackwardDxPackedKernel<DeviceType<T>, 4><<<grid, threads, 0, Compute()>>>(Dev(dy), Dev(x), Dev(w), mean, rstd,
                                                                                Dev(dx), rows, C);
  } else {
    BackwardDxKernel<<<grid, threads, 0, Compute()>>>(Dev(dy), Dev(x), Dev(w), mean, rstd, Dev(dx), rows, C);
  }
  VFM_CUDA_LAUNCHED("LayerNormBackwardDx");
  const int64_t chunks = ChunksFor(rows);
  const int64_t rows_per_chunk = (rows + chunks - 1) / chunks;
  if (Packed(C, dy, x, workspace)) {
    const dim3 partial_grid(BlocksFor(packs, 32), unsigned(chunks));
    BackwardPartialPackedKernel<<<partial_grid, dim3(32, kRowLanes), 0, Compute()>>>(Dev(dy), Dev(x), mean, rstd,
                                                                                    workspace, rows, C,
                                                                                    rows_per_chunk);
  } else {
    const dim3 partial_grid(BlocksFor(C, 32), unsigned(chunks));
    BackwardPartialKernel<<<partial_grid, dim3(32, kRowLanes), 0, Compute()>>>(Dev(dy), Dev(x), mean, rstd,
                                                                              workspace, rows, C, rows_per_chunk);
  }
  VFM_CUDA_LAUNCHED("LayerNormBackwardPartial");
  BackwardFinishKernel<<<BlocksFor(C, 32), dim3(32, kTableLanes), 0, Compute()>>>(workspace, Dev(dw), Dev(db),
                                                                                  chunks, C);
  VFM_CUDA_LAUNCHED("LayerNormBackwardFinish");
}

template void LayerNormForward<float>(const float*, const float*, const float*, float*, float*, float*, int64_t,
                                      int64_t, double);
template void LayerNormForward<bf16>(const bf16*, const bf16*, const bf16*, bf16*, float*, float*, int64_t, int64_t,
                                     double);
template void LayerNormBackward<float, float>(const float*, const float*, const float*, const float*, const float*,
                                              float*, float*, float*, int64_t, int64_t, float*);
template void LayerNormBackward<bf16, bf16>(const bf16*, const bf16*, const bf16*, const float*, const float*, bf16*,
                                            bf16*, bf16*, int64_t, int64_t, float*);
template void LayerNormBackward<bf16, float>(const bf16*, const bf16*, const bf16*, const float*, const float*, bf16*,
                                             float*, float*, int64_t, int64_t, float*);

}  // namespace vfm::cuda

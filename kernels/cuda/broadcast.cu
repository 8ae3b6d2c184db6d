// Elementwise kernels over broadcast operands, sums over a middle axis, and scalar maps on the GPU.
// The math is that of kernels/cpu/broadcast.h (and of the loops in autograd/ops/binary.cc for Scale,
// AddScalar, Where and AddInPlace): out[i] = op(a[offset_a(i)], b[offset_b(i)]) with per-output-dimension
// operand strides (0 along broadcast dimensions), and out[o, i] = sum_k x[o, k, i].
//
// Work split:
// - Elementwise kernels: one output element per thread in a grid-stride loop (256 threads per block,
//   at most 65535 blocks), so consecutive threads write consecutive outputs (coalesced stores; loads
//   are coalesced along any operand dimension of stride 1). Before launching, the host coalesces the
//   layout (drops size-1 dimensions, merges neighbours that are contiguous for every operand): a bias
//   add becomes 2-d, so a thread does at most ndim - 1 integer divisions, in 32 bits whenever all
//   indices and offsets fit. Operands of the output's shape (a residual add, a gradient sum) coalesce
//   to 1-d with unit strides and take the contiguous map of elementwise.cuh instead (8 elements per
//   thread, 16-byte loads and stores); so do Scale, AddScalar and Axpy.
// - SumMiddleAxis, inner == 1 (sums of rows, e.g. the sum of all elements): one block per output
//   (grid-stride over outputs); each thread sums a strided subset of the row serially in fp32, then a
//   warp-shuffle tree and a tree over the warps' partials in shared memory give the total in a fixed
//   order (deterministic). Few long rows (the loss's sum over [rows, K] is one row of 60M elements)
//   would leave all but a few SMs idle, so there each row is first cut into fixed chunks of 16384,
//   one block per chunk writing an fp32 partial, and a second pass sums each row's partials in order
//   (still deterministic: the chunking depends only on the shape). Measured on the H200: the one-block
//   sum of a ViT-B step's patch loss took 24 ms.
// - SumMiddleAxis, inner > 1 (sums over a leading/middle dimension, e.g. gradients of broadcast
//   operands): one block per tile of 32 consecutive outputs of one outer row; blockDim.y = rows (a
//   power of two <= 32, at most n rounded up) threads split the n summands of each output
//   (k = ty, ty + rows, ...), reading 32 consecutive elements per row (coalesced); the rows' partials
//   are then added by a fixed shared-memory tree over y (deterministic).
#include "kernels/cuda/broadcast.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

int64_t NumElements(const BroadcastLayout& layout) {
  int64_t n = 1;
  for (int d = 0; d < layout.ndim; ++d) n *= layout.shape[d];
  return n;
}

// The same index space with size-1 dimensions dropped and neighbouring dimensions merged where every
// operand slot steps through them as through one: stride[outer] == stride[inner] * shape[inner].
BroadcastLayout Coalesced(const BroadcastLayout& in) {
  if (in.ndim < 0 || in.ndim > kMaxBroadcastDims)
    throw std::runtime_error("broadcast kernel: " + std::to_string(in.ndim) + " dimensions (at most " +
                             std::to_string(kMaxBroadcastDims) + ")");
  BroadcastLayout out;
  out.ndim = 0;
  for (int d = 0; d < in.ndim; ++d) {
    if (in.shape[d] == 1) continue;
    if (out.ndim > 0) {
      const int p = out.ndim - 1;
      bool merge = true;
      for (int k = 0; k < 3; ++k) merge = merge && out.strides[k][p] == in.strides[k][d] * in.shape[d];
      if (merge) {
        out.shape[p] *= in.shape[d];
        for (int k = 0; k < 3; ++k) out.strides[k][p] = in.strides[k][d];
        continue;
      }
    }
    out.shape[out.ndim] = in.shape[d];
    for (int k = 0; k < 3; ++k) out.strides[k][out.ndim] = in.strides[k][d];
    ++out.ndim;
  }
  return out;
}

// Whether every index and every operand offset of the layout fits in 32 bits (then the index
// arithmetic, integer division above all, runs in 32 bits: several times cheaper than 64-bit division).
bool Fits32(const BroadcastLayout& L) {
  constexpr int64_t kMax = (int64_t(1) << 31) - 1;
  if (NumElements(L) > kMax) return false;
  for (int k = 0; k < 3; ++k) {
    int64_t span = 0;
    for (int d = 0; d < L.ndim; ++d) {
      if (L.strides[k][d] < 0) return false;
      span += (L.shape[d] - 1) * L.strides[k][d];
      if (span > kMax) return false;
    }
  }
  return true;
}

// Element offsets of output index i in the three operand slots, computed in Index arithmetic.
template <typename Index>
__device__ __forceinline__ void Locate(const BroadcastLayout& L, int64_t i, int64_t off[3]) {
  Index o0 = 0, o1 = 0, o2 = 0;
  if (L.ndim > 0) {
    Index rest = Index(i);
    for (int d = L.ndim - 1; d > 0; --d) {
      const Index size = Index(L.shape[d]);
      const Index c = rest % size;
      rest /= size;
      o0 += c * Index(L.strides[0][d]);
      o1 += c * Index(L.strides[1][d]);
      o2 += c * Index(L.strides[2][d]);
    }
    // rest < shape[0] here, since i < numel.
    o0 += rest * Index(L.strides[0][0]);
    o1 += rest * Index(L.strides[1][0]);
    o2 += rest * Index(L.strides[2][0]);
  }
  off[0] = o0;
  off[1] = o1;
  off[2] = o2;
}

struct AddF { __device__ float operator()(float x, float y) const { return x + y; } };
struct SubF { __device__ float operator()(float x, float y) const { return x - y; } };
struct MulF { __device__ float operator()(float x, float y) const { return x * y; } };
struct DivF { __device__ float operator()(float x, float y) const { return x / y; } };

template <typename Index, typename D, typename Op>
__global__ void BinaryKernel(const D* a, const D* b, D* out, BroadcastLayout layout, int64_t n, Op op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[3];
    Locate<Index>(layout, i, off);
    out[i] = FromFloat<D>(op(ToFloat(a[off[kOperandA]]), ToFloat(b[off[kOperandB]])));
  }
}

template <typename Index, typename D>
__global__ void WhereKernel(const uint8_t* mask, const D* a, const D* b, D* out, BroadcastLayout layout, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[3];
    Locate<Index>(layout, i, off);
    out[i] = mask[off[kOperandMask]] != 0 ? a[off[kOperandA]] : b[off[kOperandB]];
  }
}

template <typename Index, typename D>
__global__ void MaskValuesKernel(const uint8_t* mask, D* out, BroadcastLayout layout, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[3];
    Locate<Index>(layout, i, off);
    out[i] = FromFloat<D>(float(mask[off[kOperandMask]]));
  }
}

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
  if (!buffers[device]) throw std::runtime_error("SumMiddleAxis: out of device memory for the row partials");
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

struct ScaleF {
  float s;
  __device__ float operator()(float x) const { return x * s; }
};
struct AddScalarF {
  float s;
  __device__ float operator()(float x) const { return x + s; }
};
struct AxpyF {
  float alpha;
  __device__ float operator()(float a, float b) const { return a + alpha * b; }
};

template <typename D, typename Op>
void LaunchBinary(const D* a, const D* b, D* out, const BroadcastLayout& layout, int64_t n, Op op) {
  if (layout.ndim == 1 && layout.strides[kOperandA][0] == 1 && layout.strides[kOperandB][0] == 1)
    LaunchMap2(a, b, out, n, op);
  else if (Fits32(layout))
    BinaryKernel<uint32_t><<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(a, b, out, layout, n, op);
  else
    BinaryKernel<int64_t><<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(a, b, out, layout, n, op);
}

}  // namespace

template <typename T>
void BroadcastBinary(BinaryOp op, const T* a, const T* b, T* out, const BroadcastLayout& layout) {
  const BroadcastLayout L = Coalesced(layout);
  const int64_t n = NumElements(L);
  if (n == 0) return;
  switch (op) {
    case BinaryOp::kAdd: LaunchBinary(Dev(a), Dev(b), Dev(out), L, n, AddF{}); break;
    case BinaryOp::kSub: LaunchBinary(Dev(a), Dev(b), Dev(out), L, n, SubF{}); break;
    case BinaryOp::kMul: LaunchBinary(Dev(a), Dev(b), Dev(out), L, n, MulF{}); break;
    case BinaryOp::kDiv: LaunchBinary(Dev(a), Dev(b), Dev(out), L, n, DivF{}); break;
    default: throw std::runtime_error("BroadcastBinary: unknown op " + std::to_string(int(op)));
  }
  VFM_CUDA_LAUNCHED("BroadcastBinary");
}

template <typename T>
void BroadcastWhere(const uint8_t* mask, const T* a, const T* b, T* out, const BroadcastLayout& layout) {
  const BroadcastLayout L = Coalesced(layout);
  const int64_t n = NumElements(L);
  if (n == 0) return;
  if (Fits32(L))
    WhereKernel<uint32_t><<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(mask, Dev(a), Dev(b), Dev(out), L,
                                                                                    n);
  else
    WhereKernel<int64_t><<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(mask, Dev(a), Dev(b), Dev(out), L,
                                                                                   n);
  VFM_CUDA_LAUNCHED("BroadcastWhere");
}

template <typename T>
void BroadcastMaskValues(const uint8_t* mask, T* out, const BroadcastLayout& layout) {
  const BroadcastLayout L = Coalesced(layout);
  const int64_t n = NumElements(L);
  if (n == 0) return;
  if (Fits32(L))
    MaskValuesKernel<uint32_t><<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(mask, Dev(out), L, n);
  else
    MaskValuesKernel<int64_t><<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(mask, Dev(out), L, n);
  VFM_CUDA_LAUNCHED("BroadcastMaskValues");
}

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

template <typename T>
void Scale(const T* x, T* y, int64_t n, double s) {
  LaunchMap1(Dev(x), Dev(y), n, ScaleF{float(s)});
  VFM_CUDA_LAUNCHED("Scale");
}

template <typename T>
void AddScalar(const T* x, T* y, int64_t n, double s) {
  LaunchMap1(Dev(x), Dev(y), n, AddScalarF{float(s)});
  VFM_CUDA_LAUNCHED("AddScalar");
}

template <typename T>
void Axpy(T* a, const T* b, int64_t n, double alpha) {
  LaunchMap2(Dev(a), Dev(b), Dev(a), n, AxpyF{float(alpha)});
  VFM_CUDA_LAUNCHED("Axpy");
}

#define VFM_INSTANTIATE(T)                                                                                \
  template void BroadcastBinary<T>(BinaryOp, const T*, const T*, T*, const BroadcastLayout&);             \
  template void BroadcastWhere<T>(const uint8_t*, const T*, const T*, T*, const BroadcastLayout&);        \
  template void BroadcastMaskValues<T>(const uint8_t*, T*, const BroadcastLayout&);                       \
  template void SumMiddleAxis<T>(const T*, T*, int64_t, int64_t, int64_t);                                \
  template void Scale<T>(const T*, T*, int64_t, double);                                                  \
  template void AddScalar<T>(const T*, T*, int64_t, double);                                              \
  template void Axpy<T>(T*, const T*, int64_t, double);
VFM_INSTANTIATE(float)
VFM_INSTANTIATE(bf16)
#undef VFM_INSTANTIATE

}  // namespace vfm::cuda

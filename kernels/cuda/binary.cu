// Elementwise kernels over broadcast operands and scalar maps on the GPU.
// The math is that of kernels/cpu/binary.h (and of the loops in autograd/ops/binary.cc for Scale,
// AddScalar, Where and AddInPlace): out[i] = op(a[offset_a(i)], b[offset_b(i)]) with per-output-dimension
// operand strides (0 along broadcast dimensions).
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
#include "kernels/cuda/binary.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/warp_reduce.cuh"
#include "kernels/cuda/runtime.cuh"
#include "kernels/error.h"

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
    throw Error("broadcast kernel: " + std::to_string(in.ndim) + " dimensions (at most " +
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
    default: throw Error("BroadcastBinary: unknown op " + std::to_string(int(op)));
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
  template void Scale<T>(const T*, T*, int64_t, double);                                                  \
  template void AddScalar<T>(const T*, T*, int64_t, double);                                              \
  template void Axpy<T>(T*, const T*, int64_t, double);
VFM_INSTANTIATE(float)
VFM_INSTANTIATE(bf16)
#undef VFM_INSTANTIATE

}  // namespace vfm::cuda

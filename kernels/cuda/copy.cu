// Device copies, conversions and fills (see copy.h).
//
// CopyStrided: one word per thread in a grid-stride loop, the source and destination offsets of output
// index i computed from the layout. Before launching, the host makes the words as wide as it can: it
// drops size-1 dimensions and merges neighbours that both sides step through as one (a concatenation's
// row copy becomes 2-d, a contiguous copy 1-d: fewer divisions per word), then, when the innermost
// dimension is contiguous on both sides and every pointer, stride and row length allows it, moves
// 16, 8 or 4 bytes per thread instead of one element (a bf16 row of 768 is 96 16-byte words).
// Convert: the contiguous map of elementwise.cuh (8 elements per thread, 16-byte accesses).
// ConvertMany: the same map for up to kMaxConvertBatch tensors per launch, blockIdx.y picking the
// tensor and blockIdx.x striding over it (a model's ~150 parameters in 3 launches instead of 150; the
// blocks of small tensors that find no work exit at once).
#include "kernels/cuda/copy.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/runtime.cuh"
#include "kernels/error.h"

namespace vfm::cuda {
namespace {

template <typename Word>
__global__ void CopyStridedKernel(const Word* src, Word* dst, StridedCopyLayout layout, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rest = i, s = 0, d = 0;
    for (int k = layout.ndim - 1; k >= 0; --k) {
      const int64_t coord = rest % layout.shape[k];
      rest /= layout.shape[k];
      s += coord * layout.src_strides[k];
      d += coord * layout.dst_strides[k];
    }
    dst[d] = src[s];
  }
}

// The same copy with size-1 dimensions dropped and neighbouring dimensions merged where both sides
// step through them as through one: stride[outer] == stride[inner] * shape[inner].
StridedCopyLayout Coalesced(const StridedCopyLayout& in) {
  StridedCopyLayout out;
  out.ndim = 0;
  for (int d = 0; d < in.ndim; ++d) {
    if (in.shape[d] == 1) continue;
    const int p = out.ndim - 1;
    if (p >= 0 && out.src_strides[p] == in.src_strides[d] * in.shape[d] &&
        out.dst_strides[p] == in.dst_strides[d] * in.shape[d]) {
      out.shape[p] *= in.shape[d];
      out.src_strides[p] = in.src_strides[d];
      out.dst_strides[p] = in.dst_strides[d];
      continue;
    }
    out.shape[out.ndim] = in.shape[d];
    out.src_strides[out.ndim] = in.src_strides[d];
    out.dst_strides[out.ndim] = in.dst_strides[d];
    ++out.ndim;
  }
  return out;
}

// The widest word (16, 8 or 4 bytes; else the element itself) the copy can move in: the innermost
// dimension is contiguous on both sides and every stride, the innermost extent and both pointers are
// multiples of it. Rewrites the layout in units of that word.
int Widen(const void* src, const void* dst, StridedCopyLayout& L, int elem_size) {
  if (L.ndim == 0 || L.src_strides[L.ndim - 1] != 1 || L.dst_strides[L.ndim - 1] != 1) return elem_size;
  for (int word = 16; word > elem_size; word /= 2) {
    const int64_t f = word / elem_size;
    bool fits = reinterpret_cast<uintptr_t>(src) % word == 0 && reinterpret_cast<uintptr_t>(dst) % word == 0 &&
                L.shape[L.ndim - 1] % f == 0;
    for (int d = 0; d + 1 < L.ndim; ++d) fits = fits && L.src_strides[d] % f == 0 && L.dst_strides[d] % f == 0;
    if (!fits) continue;
    L.shape[L.ndim - 1] /= f;
    for (int d = 0; d + 1 < L.ndim; ++d) {
      L.src_strides[d] /= f;
      L.dst_strides[d] /= f;
    }
    return word;
  }
  return elem_size;
}

template <typename Word>
void LaunchCopy(const void* src, void* dst, const StridedCopyLayout& layout, int64_t n) {
  CopyStridedKernel<<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(static_cast<const Word*>(src),
                                                                               static_cast<Word*>(dst), layout, n);
}

struct Identity {
  __device__ float operator()(float x) const { return x; }
};

// Up to kMaxConvertBatch conversions, passed by value (2 KiB of kernel parameters).
struct ConvertBatch {
  const float* src[kMaxConvertBatch];
  __nv_bfloat16* dst[kMaxConvertBatch];
  int64_t n[kMaxConvertBatch];
  int64_t packs[kMaxConvertBatch];  // n / kPack where both pointers are 16-byte aligned, else 0
};

__global__ void ConvertBatchKernel(ConvertBatch batch) {
  const int k = blockIdx.y;
  Map1Range(batch.src[k], batch.dst[k], batch.n[k], batch.packs[k], Identity{},
            blockIdx.x * int64_t(blockDim.x) + threadIdx.x, int64_t(gridDim.x) * blockDim.x);
}

// Blocks per tensor in ConvertBatchKernel: enough for the largest tensor's work items, at most this
// many (each thread then loops over several packs of a large tensor).
constexpr int64_t kMaxBlocksPerConversion = 256;

template <typename T>
__global__ void FillKernel(T* dst, int64_t n, T value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = value;
}

}  // namespace

void CopyStrided(const void* src, void* dst, const StridedCopyLayout& layout, int elem_size) {
  if (layout.ndim < 0 || layout.ndim > kMaxDims)
    throw Error("CopyStrided: " + std::to_string(layout.ndim) + " dimensions");
  if (elem_size != 1 && elem_size != 2 && elem_size != 4 && elem_size != 8)
    throw Error("CopyStrided: element size " + std::to_string(elem_size));
  StridedCopyLayout L = Coalesced(layout);
  int64_t n = 1;
  for (int k = 0; k < L.ndim; ++k) n *= L.shape[k];
  if (n == 0) return;
  const int word = Widen(src, dst, L, elem_size);
  n = 1;
  for (int k = 0; k < L.ndim; ++k) n *= L.shape[k];
  switch (word) {
    case 1: LaunchCopy<uint8_t>(src, dst, L, n); break;
    case 2: LaunchCopy<uint16_t>(src, dst, L, n); break;
    case 4: LaunchCopy<uint32_t>(src, dst, L, n); break;
    case 8: LaunchCopy<uint64_t>(src, dst, L, n); break;
    default: LaunchCopy<uint4>(src, dst, L, n); break;  // 16
  }
  VFM_CUDA_LAUNCHED("CopyStrided");
}

template <typename Src, typename Dst>
void Convert(const Src* src, Dst* dst, int64_t n) {
  LaunchMap1(Dev(src), Dev(dst), n, Identity{});
  VFM_CUDA_LAUNCHED("Convert");
}

void ConvertMany(const float* const* src, bf16* const* dst, const int64_t* n, int count) {
  for (int first = 0; first < count; first += kMaxConvertBatch) {
    ConvertBatch batch = {};
    const int size = std::min(kMaxConvertBatch, count - first);
    int64_t most_items = 0;
    for (int k = 0; k < size; ++k) {
      batch.src[k] = src[first + k];
      batch.dst[k] = Dev(dst[first + k]);
      batch.n[k] = n[first + k];
      batch.packs[k] = Aligned16(batch.src[k]) && Aligned16(batch.dst[k]) ? batch.n[k] / kPack : 0;
      most_items = std::max(most_items, std::max(batch.packs[k], batch.n[k] - batch.packs[k] * kPack));
    }
    const unsigned blocks = unsigned(std::min<int64_t>(GridStrideBlocks(most_items), kMaxBlocksPerConversion));
    ConvertBatchKernel<<<dim3(blocks, unsigned(size)), kGridStrideThreads, 0, Compute()>>>(batch);
    VFM_CUDA_LAUNCHED("ConvertMany");
  }
}

template <typename T>
void Fill(T* dst, int64_t n, double value) {
  if (n == 0) return;
  using D = DeviceType<T>;
  FillKernel<<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(Dev(dst), n, D(value));
  VFM_CUDA_LAUNCHED("Fill");
}

template void Convert<float, bf16>(const float*, bf16*, int64_t);
template void Convert<bf16, float>(const bf16*, float*, int64_t);
template void Fill<float>(float*, int64_t, double);
template void Fill<bf16>(bf16*, int64_t, double);
template void Fill<int32_t>(int32_t*, int64_t, double);
template void Fill<int64_t>(int64_t*, int64_t, double);
template void Fill<uint8_t>(uint8_t*, int64_t, double);

}  // namespace vfm::cuda

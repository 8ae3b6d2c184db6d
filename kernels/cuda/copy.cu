#include "kernels/cuda/copy.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/cuda/runtime.cuh"

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

template <typename Src, typename Dst>
__global__ void ConvertKernel(const Src* src, Dst* dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = FromFloat<Dst>(ToFloat(src[i]));
}

template <typename T>
__global__ void FillKernel(T* dst, int64_t n, T value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = value;
}

// Grid-stride loops: enough blocks to fill the GPU, never more than the work.
unsigned GridFor(int64_t n) { return unsigned(std::min<int64_t>((n + 255) / 256, 65535)); }

}  // namespace

void CopyStrided(const void* src, void* dst, const StridedCopyLayout& layout, int elem_size) {
  int64_t n = 1;
  for (int k = 0; k < layout.ndim; ++k) n *= layout.shape[k];
  if (n == 0) return;
  switch (elem_size) {
    case 1: CopyStridedKernel<<<GridFor(n), 256, 0, Compute()>>>(static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), layout, n); break;
    case 2: CopyStridedKernel<<<GridFor(n), 256, 0, Compute()>>>(static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), layout, n); break;
    case 4: CopyStridedKernel<<<GridFor(n), 256, 0, Compute()>>>(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), layout, n); break;
    case 8: CopyStridedKernel<<<GridFor(n), 256, 0, Compute()>>>(static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst), layout, n); break;
    default: throw std::runtime_error("CopyStrided: element size " + std::to_string(elem_size));
  }
  VFM_CUDA_LAUNCHED("CopyStrided");
}

template <typename Src, typename Dst>
void Convert(const Src* src, Dst* dst, int64_t n) {
  if (n == 0) return;
  ConvertKernel<<<GridFor(n), 256, 0, Compute()>>>(Dev(src), Dev(dst), n);
  VFM_CUDA_LAUNCHED("Convert");
}

template <typename T>
void Fill(T* dst, int64_t n, double value) {
  if (n == 0) return;
  using D = DeviceType<T>;
  FillKernel<<<GridFor(n), 256, 0, Compute()>>>(Dev(dst), n, D(value));
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

// See kernels/cpu/normalize_images.h for the math. One thread per pixel in a grid-stride loop; the
// plane of pixel i is i / plane_size (its norm is read from a table of samples x 3 entries, cached).
#include "kernels/cuda/normalize_images.h"

#include <algorithm>

#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

template <typename D>
__global__ void NormalizeImagesKernel(const uint8_t* in, const cpu::PlaneNorm* norms, D* out, int64_t n,
                                      int64_t plane_size) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const cpu::PlaneNorm norm = norms[i / plane_size];
    out[i] = FromFloat<D>(__fmaf_rn(float(in[i]), norm.scale, norm.shift));
  }
}

}  // namespace

template <typename T>
void NormalizeImages(const uint8_t* in, const cpu::PlaneNorm* norms, T* out, int64_t planes, int64_t plane_size) {
  const int64_t n = planes * plane_size;
  if (n == 0) return;
  const unsigned blocks = unsigned(std::min<int64_t>((n + 255) / 256, 65535));
  NormalizeImagesKernel<<<blocks, 256, 0, Compute()>>>(in, norms, Dev(out), n, plane_size);
  VFM_CUDA_LAUNCHED("NormalizeImages");
}

template void NormalizeImages<float>(const uint8_t*, const cpu::PlaneNorm*, float*, int64_t, int64_t);
template void NormalizeImages<bf16>(const uint8_t*, const cpu::PlaneNorm*, bf16*, int64_t, int64_t);

}  // namespace vfm::cuda

// Patchify / Unpatchify: the permutation of kernels/cpu/patch_embed.h (see its comment):
//   cols[b, py * gw + px, (c * p + ky) * p + kx] = img[b, c, py * p + ky, px * p + kx],  gw = W / p.
// One thread per element of cols (grid-stride loop), indexed in cols' row-major order, so cols is read
// (Unpatchify) or written (Patchify) fully coalesced and the image side moves runs of p consecutive
// pixels. Pure data movement: elements are copied as raw bits (2 or 4 bytes), so one kernel serves
// float and bf16.
#include "kernels/cuda/patch_embed.h"

#include <algorithm>
#include <type_traits>

#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

// The image offset of cols element idx.
__device__ __forceinline__ int64_t ImageOffset(int64_t idx, int64_t C, int64_t H, int64_t W, int64_t p) {
  const int64_t gh = H / p, gw = W / p;
  const int64_t kx = idx % p;
  int64_t t = idx / p;
  const int64_t ky = t % p;
  t /= p;
  const int64_t c = t % C;
  t /= C;
  const int64_t px = t % gw;
  t /= gw;
  const int64_t py = t % gh;
  const int64_t b = t / gh;
  return ((b * C + c) * H + py * p + ky) * W + px * p + kx;
}

template <typename Word, bool kToCols>
__global__ void PatchifyKernel(const Word* src, Word* dst, int64_t n, int64_t C, int64_t H, int64_t W, int64_t p) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < n; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t img = ImageOffset(idx, C, H, W, p);
    if (kToCols)
      dst[idx] = src[img];
    else
      dst[img] = src[idx];
  }
}

template <typename T, bool kToCols>
void Launch(const T* src, T* dst, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
  if (p <= 0) return;
  const int64_t n = B * C * (H / p) * p * (W / p) * p;
  if (n <= 0) return;
  using Word = std::conditional_t<sizeof(T) == 2, uint16_t, uint32_t>;
  static_assert(sizeof(T) == sizeof(Word), "2- or 4-byte elements");
  const unsigned grid = unsigned(std::min<int64_t>((n + 255) / 256, int64_t(1) << 20));
  PatchifyKernel<Word, kToCols><<<grid, 256, 0, Compute()>>>(reinterpret_cast<const Word*>(src),
                                                              reinterpret_cast<Word*>(dst), n, C, H, W, p);
  VFM_CUDA_LAUNCHED("PatchifyKernel");
}

}  // namespace

template <typename T>
void Patchify(const T* img, T* cols, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
  Launch<T, true>(img, cols, B, C, H, W, p);
}

template <typename T>
void Unpatchify(const T* cols, T* img, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
  Launch<T, false>(cols, img, B, C, H, W, p);
}

template void Patchify<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void Patchify<bf16>(const bf16*, bf16*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void Unpatchify<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void Unpatchify<bf16>(const bf16*, bf16*, int64_t, int64_t, int64_t, int64_t, int64_t);

}  // namespace vfm::cuda

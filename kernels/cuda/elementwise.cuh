// Contiguous elementwise maps with full-width memory access: out[i] = f(a[i]) or f(a[i], b[i]).
//
// Why: these kernels are bound by memory bandwidth, and one 2-byte bf16 load or store per thread uses
// a fraction of it (the H200 profile of a ViT-B step: residual adds and GELU passes at about a third of
// the bandwidth). Here a thread moves 8 elements at a time with 16-byte loads and stores (one for
// bf16, two for f32), while the arithmetic stays per element in fp32, so the results are bit-identical
// to the one-element-per-thread form.
//
// Work split: a grid-stride loop over packs of kPack = 8 elements when every pointer is 16-byte aligned
// (allocations are; views with an element offset may not be), then a grid-stride loop over the
// remaining n % 8 elements (all n elements when a pointer is misaligned). Consecutive threads take
// consecutive packs: a warp moves 512 contiguous bytes per bf16 access (1024 per f32 pack, in two
// accesses that each cover every other 16 bytes; L1 merges the loads).
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {

constexpr int kPack = 8;

inline bool Aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Load kPack elements at p (16-byte aligned, p[0..7] in bounds) widened to fp32; store kPack fp32
// values rounded to the storage type (round to nearest even, as FromFloat).
__device__ __forceinline__ void LoadPack(const float* p, float (&v)[kPack]) {
  const float4 lo = reinterpret_cast<const float4*>(p)[0], hi = reinterpret_cast<const float4*>(p)[1];
  v[0] = lo.x, v[1] = lo.y, v[2] = lo.z, v[3] = lo.w, v[4] = hi.x, v[5] = hi.y, v[6] = hi.z, v[7] = hi.w;
}
__device__ __forceinline__ void LoadPack(const __nv_bfloat16* p, float (&v)[kPack]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
  for (int j = 0; j < kPack / 2; ++j) {
    const float2 f = __bfloat1622float2(pairs[j]);
    v[2 * j] = f.x;
    v[2 * j + 1] = f.y;
  }
}
__device__ __forceinline__ void StorePack(float* p, const float (&v)[kPack]) {
  reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ __forceinline__ void StorePack(__nv_bfloat16* p, const float (&v)[kPack]) {
  uint4 raw;
  __nv_bfloat162* pairs = reinterpret_cast<__nv_bfloat162*>(&raw);
  for (int j = 0; j < kPack / 2; ++j) pairs[j] = __floats2bfloat162_rn(v[2 * j], v[2 * j + 1]);
  *reinterpret_cast<uint4*>(p) = raw;
}

// out[i] = f(a[i]) for i < n, the share of thread `first` of `stride` threads; `packs` is n / kPack when
// a and out are 16-byte aligned, else 0. out may alias a (each element is read before it is written, by
// the same thread).
template <typename A, typename Out, typename F>
__device__ __forceinline__ void Map1Range(const A* a, Out* out, int64_t n, int64_t packs, F f, int64_t first,
                                          int64_t stride) {
  for (int64_t p = first; p < packs; p += stride) {
    float x[kPack];
    LoadPack(a + p * kPack, x);
    for (int j = 0; j < kPack; ++j) x[j] = f(x[j]);
    StorePack(out + p * kPack, x);
  }
  for (int64_t i = packs * kPack + first; i < n; i += stride) out[i] = FromFloat<Out>(f(ToFloat(a[i])));
}

template <typename A, typename Out, typename F>
__global__ void Map1Kernel(const A* a, Out* out, int64_t n, int64_t packs, F f) {
  Map1Range(a, out, n, packs, f, blockIdx.x * int64_t(blockDim.x) + threadIdx.x, int64_t(gridDim.x) * blockDim.x);
}

// out[i] = f(a[i], b[i]) for i < n; `packs` as above (a, b and out aligned). out may alias a or b.
template <typename A, typename B, typename Out, typename F>
__global__ void Map2Kernel(const A* a, const B* b, Out* out, int64_t n, int64_t packs, F f) {
  const int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t p = first; p < packs; p += stride) {
    float x[kPack], y[kPack];
    LoadPack(a + p * kPack, x);
    LoadPack(b + p * kPack, y);
    for (int j = 0; j < kPack; ++j) x[j] = f(x[j], y[j]);
    StorePack(out + p * kPack, x);
  }
  for (int64_t i = packs * kPack + first; i < n; i += stride)
    out[i] = FromFloat<Out>(f(ToFloat(a[i]), ToFloat(b[i])));
}

// Launchers on the compute stream (device-side element types: float, __nv_bfloat16).
template <typename A, typename Out, typename F>
void LaunchMap1(const A* a, Out* out, int64_t n, F f) {
  if (n == 0) return;
  const int64_t packs = Aligned16(a) && Aligned16(out) ? n / kPack : 0;
  Map1Kernel<<<GridStrideBlocks(std::max(packs, n - packs * kPack)), kGridStrideThreads, 0, Compute()>>>(a, out, n,
                                                                                                        packs, f);
}

template <typename A, typename B, typename Out, typename F>
void LaunchMap2(const A* a, const B* b, Out* out, int64_t n, F f) {
  if (n == 0) return;
  const int64_t packs = Aligned16(a) && Aligned16(b) && Aligned16(out) ? n / kPack : 0;
  Map2Kernel<<<GridStrideBlocks(std::max(packs, n - packs * kPack)), kGridStrideThreads, 0, Compute()>>>(
      a, b, out, n, packs, f);
}

}  // namespace vfm::cuda

// Copies, conversions and fills on the device: what Tensor::CopyFrom, Clone, To(dtype) and Fill need
// for CUDA tensors. CPU counterpart of CopyStrided: kernels/cpu/copy.h.
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace vfm::cuda {

constexpr int kMaxDims = 8;
// A strided view on both sides: dst[offset(dst_strides, i)] = src[offset(src_strides, i)] for every
// index i of `shape` in row-major order. Offsets in elements.
struct StridedCopyLayout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t src_strides[kMaxDims] = {};
  int64_t dst_strides[kMaxDims] = {};
};
// Elements of elem_size bytes (1, 2, 4 or 8), copied as raw bits.
void CopyStrided(const void* src, void* dst, const StridedCopyLayout& layout, int elem_size);

// Contiguous element type conversion (round to nearest even into bf16).
template <typename Src, typename Dst> void Convert(const Src* src, Dst* dst, int64_t n);

// dst[k][0..n[k]) = bf16(src[k][0..n[k])) for k < count, contiguous: many conversions in a few launches
// (one per kMaxConvertBatch tensors), as a model's parameters are cast for a bf16 forward.
constexpr int kMaxConvertBatch = 64;
void ConvertMany(const float* const* src, bf16* const* dst, const int64_t* n, int count);

// dst[0..n) = value.
template <typename T> void Fill(T* dst, int64_t n, double value);

}  // namespace vfm::cuda

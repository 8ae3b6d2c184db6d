// Same-type strided copies on the host (the reference of kernels/cuda/copy.cu's CopyStrided):
// dst[offset(dst_strides, i)] = src[offset(src_strides, i)] for every index i of `shape` in row-major
// order, offsets in elements of elem_size bytes, copied as raw bits. Tensor::CopyFrom uses it for every
// host copy between tensors of one dtype (dtype conversions are Tensor's: autograd/tensor.cc).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vfm::cpu {

void CopyStrided(const void* src, const std::vector<int64_t>& src_strides, void* dst,
                 const std::vector<int64_t>& dst_strides, const std::vector<int64_t>& shape, size_t elem_size);

}  // namespace vfm::cpu

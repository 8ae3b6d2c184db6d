#include "kernels/cpu/copy.h"

#include <cstring>

namespace vfm::cpu {
namespace {

// The element offsets of every row (all dimensions but the last) of a strided view, in row-major order.
std::vector<int64_t> RowOffsets(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  const size_t nd = shape.size() - 1;  // the outer dimensions
  int64_t rows = 1;
  for (size_t d = 0; d < nd; ++d) rows *= shape[d];
  std::vector<int64_t> offsets, idx(nd, 0);
  offsets.reserve(size_t(rows));
  int64_t off = 0;
  for (int64_t r = 0; r < rows; ++r) {
    offsets.push_back(off);
    for (size_t d = nd; d-- > 0;) {
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
  return offsets;
}

bool IsContiguous(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  int64_t expected = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

}  // namespace

void CopyStrided(const void* src, const std::vector<int64_t>& src_strides, void* dst,
                 const std::vector<int64_t>& dst_strides, const std::vector<int64_t>& shape, size_t elem_size) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  if (n == 0) return;
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  if (IsContiguous(shape, src_strides) && IsContiguous(shape, dst_strides)) {
    std::memmove(d, s, size_t(n) * elem_size);
    return;
  }
  if (shape.empty()) {
    std::memmove(d, s, elem_size);
    return;
  }
  const int64_t inner = shape.back(), ss = src_strides.back(), ds = dst_strides.back();
  const std::vector<int64_t> src_rows = RowOffsets(shape, src_strides), dst_rows = RowOffsets(shape, dst_strides);
  for (size_t r = 0; r < src_rows.size(); ++r) {
    const char* from = s + src_rows[r] * int64_t(elem_size);
    char* to = d + dst_rows[r] * int64_t(elem_size);
    if (ss == 1 && ds == 1) {  // rows contiguous on both sides (slices, concatenation windows)
      std::memmove(to, from, size_t(inner) * elem_size);
      continue;
    }
    for (int64_t i = 0; i < inner; ++i)
      std::memcpy(to + i * ds * int64_t(elem_size), from + i * ss * int64_t(elem_size), elem_size);
  }
}

}  // namespace vfm::cpu

// Elementwise kernels over broadcast operands. Operand strides are given per output dimension, with
// stride 0 along dimensions the operand is broadcast over (numpy rules, resolved by the caller).
#pragma once
#include <cstdint>
#include <vector>

namespace vfm::cpu {

// out[i] = op(a[i], b[i]) for every index i of `shape`; out is contiguous.
template <typename T, typename Op>
void BroadcastBinary(const T* a, const std::vector<int64_t>& a_strides, const T* b,
                     const std::vector<int64_t>& b_strides, T* out, const std::vector<int64_t>& shape, Op op) {
  const int64_t nd = int64_t(shape.size());
  const int64_t inner = nd ? shape[nd - 1] : 1;
  int64_t outer = 1;
  for (int64_t d = 0; d + 1 < nd; ++d) outer *= shape[d];
  const int64_t sa = nd ? a_strides[nd - 1] : 0, sb = nd ? b_strides[nd - 1] : 0;
#pragma omp parallel for schedule(static) if (outer * inner > 65536)
  for (int64_t r = 0; r < outer; ++r) {
    int64_t oa = 0, ob = 0, rest = r;
    for (int64_t d = nd - 2; d >= 0; --d) {
      const int64_t i = rest % shape[d];
      rest /= shape[d];
      oa += i * a_strides[d];
      ob += i * b_strides[d];
    }
    const T* pa = a + oa;
    const T* pb = b + ob;
    T* po = out + r * inner;
    if (sa == 1 && sb == 1) {
      for (int64_t i = 0; i < inner; ++i) po[i] = op(pa[i], pb[i]);
    } else if (sa == 1 && sb == 0) {
      const T vb = *pb;
      for (int64_t i = 0; i < inner; ++i) po[i] = op(pa[i], vb);
    } else {
      for (int64_t i = 0; i < inner; ++i) po[i] = op(pa[i * sa], pb[i * sb]);
    }
  }
}

}  // namespace vfm::cpu

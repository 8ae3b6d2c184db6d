// Stochastic depth: a whole residual branch of a sample is dropped (0) or kept and scaled by 1/keep_prob.
#include "autograd/ops/common.h"

namespace vfm::ops {
using namespace internal;

Tensor DropPath(const Tensor& x, const std::vector<uint8_t>& keep, double keep_prob) {
  VFM_CHECK(x.dim() >= 1 && int64_t(keep.size()) == x.size(0) && keep_prob > 0 && keep_prob <= 1)
      << "drop_path: " << keep.size() << " keep flags for " << ShapeToString(x.shape()) << ", keep_prob "
      << keep_prob;
  Shape mask_shape(size_t(x.dim()), 1);
  mask_shape[0] = x.size(0);
  Tensor scale = Tensor::Empty(mask_shape, x.dtype());
  DispatchFloat(x.dtype(), "drop_path", [&](auto tag) {
    using T = decltype(tag);
    for (size_t b = 0; b < keep.size(); ++b) scale.data<T>()[b] = keep[b] ? T(1.0 / keep_prob) : T(0);
  });
  return Mul(x, scale);
}

}  // namespace vfm::ops

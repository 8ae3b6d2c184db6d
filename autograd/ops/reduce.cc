// Sums and means over one dimension or all elements (on a GPU: cuda::SumMiddleAxis, deterministic).
#include "autograd/ops/common.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cuda/reduce.h"

namespace vfm::ops {
using namespace internal;

Tensor Sum(const Tensor& x, int64_t dim, bool keepdim) {
  dim = WrapDim(dim, x.dim());
  const Tensor src = x.Contiguous();
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < dim; ++i) outer *= x.shape()[i];
  for (int64_t i = dim + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  Shape kept = x.shape();
  kept[dim] = 1;
  Tensor out = Tensor::Empty(kept, x.dtype(), x.device());
  DispatchDevice(
      "sum", x,
      [&](auto tag) {
        using T = decltype(tag);
        cpu::SumMiddleAxis<T>(src.data<T>(), out.data<T>(), outer, x.shape()[dim], inner);
      },
      [&](auto tag) {
        using T = decltype(tag);
        cuda::SumMiddleAxis<T>(src.data<T>(), out.data<T>(), outer, x.shape()[dim], inner);
      });
  if (!keepdim) {
    Shape s = x.shape();
    s.erase(s.begin() + dim);
    out = out.View(s, ContiguousStrides(s), 0);
  }
  const Shape in_shape = x.shape();
  RecordOp(out, "sum", {x}, [in_shape, kept](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{Expand(Reshape(g, kept), in_shape)};
  });
  return out;
}

Tensor Sum(const Tensor& x) { return Sum(Reshape(x, {x.numel()}), 0, false); }

Tensor Mean(const Tensor& x, int64_t dim, bool keepdim) {
  const int64_t n = x.shape()[WrapDim(dim, x.dim())];
  return Scale(Sum(x, dim, keepdim), 1.0 / double(n));
}

Tensor Mean(const Tensor& x) { return Scale(Sum(x), 1.0 / double(x.numel())); }

}  // namespace vfm::ops

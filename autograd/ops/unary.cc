#include <cmath>

#include "autograd/ops/common.h"
#include "kernels/cpu/unary.h"

namespace vfm::ops {
using namespace internal;

namespace {
Tensor ContiguousCopyIfNeeded(const Tensor& x) { return x.is_contiguous() ? x : x.Clone(); }

}  // namespace

Tensor Gelu(const Tensor& x) {
  CheckCpu("gelu", x);
  const Tensor src = ContiguousCopyIfNeeded(x);
  Tensor out = Tensor::Empty(x.shape(), x.dtype());
  DispatchFloat(x.dtype(), "gelu", [&](auto tag) {
    using T = decltype(tag);
    cpu::GeluForward<T>(src.data<T>(), out.data<T>(), out.numel());
  });
  RecordOp(out, "gelu", {x}, [src](const Tensor& g, const std::vector<bool>&) {
    const Tensor gc = ContiguousCopyIfNeeded(g);
    Tensor dx = Tensor::Empty(src.shape(), src.dtype());
    DispatchFloat(src.dtype(), "gelu", [&](auto tag) {
      using T = decltype(tag);
      cpu::GeluBackward<T>(gc.data<T>(), src.data<T>(), dx.data<T>(), dx.numel());
    });
    return std::vector<Tensor>{dx};
  });
  return out;
}

Tensor Exp(const Tensor& x) {
  Tensor out = MapElementwise("exp", x, [](auto v) { return std::exp(v); });
  RecordOp(out, "exp", {x}, [y = out.Detach()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{Mul(g, y)};
  });
  return out;
}

Tensor Log(const Tensor& x) {
  Tensor out = MapElementwise("log", x, [](auto v) { return std::log(v); });
  RecordOp(out, "log", {x}, [x](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{Div(g, x.Detach())};
  });
  return out;
}

}  // namespace vfm::ops

#include "autograd/ops/common.h"
#include "kernels/cpu/softmax.h"

namespace vfm::ops {
using namespace internal;

namespace {
// Softmax-like op over the last dim: forward(x, y, rows, C) and backward(dy, y, dx, rows, C) kernels.
template <typename Fwd, typename Bwd>
Tensor RowOp(const char* name, const Tensor& x, Fwd forward, Bwd backward) {
  CheckCpu(name, x);
  const int64_t C = x.size(-1), rows = x.numel() / C;
  const Tensor xc = x.is_contiguous() ? x : x.Clone();
  Tensor out = Tensor::Empty(x.shape(), x.dtype());
  DispatchFloat(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    forward(xc.data<T>(), out.data<T>(), rows, C);
  });
  RecordOp(out, name, {x}, [name, y = out.Detach(), rows, C, backward](const Tensor& g, const std::vector<bool>&) {
    const Tensor gc = g.is_contiguous() ? g : g.Clone();
    Tensor dx = Tensor::Empty(y.shape(), y.dtype());
    DispatchFloat(y.dtype(), name, [&](auto tag) {
      using T = decltype(tag);
      backward(gc.data<T>(), y.data<T>(), dx.data<T>(), rows, C);
    });
    return std::vector<Tensor>{dx};
  });
  return out;
}
}  // namespace

Tensor Softmax(const Tensor& x) {
  return RowOp(
      "softmax", x, [](auto* in, auto* out, int64_t r, int64_t c) { cpu::SoftmaxForward(in, out, r, c); },
      [](auto* dy, auto* y, auto* dx, int64_t r, int64_t c) { cpu::SoftmaxBackward(dy, y, dx, r, c); });
}

Tensor LogSoftmax(const Tensor& x) {
  return RowOp(
      "log_softmax", x, [](auto* in, auto* out, int64_t r, int64_t c) { cpu::LogSoftmaxForward(in, out, r, c); },
      [](auto* dy, auto* y, auto* dx, int64_t r, int64_t c) { cpu::LogSoftmaxBackward(dy, y, dx, r, c); });
}

}  // namespace vfm::ops

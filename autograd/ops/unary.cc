// Elementwise functions; on a GPU they run the kernels of kernels/cuda/unary.h (f32 or bf16).
#include <cmath>

#include "autograd/ops/common.h"
#include "kernels/cpu/unary.h"
#include "kernels/cuda/unary.h"

namespace vfm::ops {
using namespace internal;

Tensor Gelu(const Tensor& x) {
  const Tensor src = x.Contiguous();
  Tensor out = Tensor::Empty(x.shape(), x.dtype(), x.device());
  DispatchDevice(
      "gelu", x,
      [&](auto tag) {
        using T = decltype(tag);
        cpu::GeluForward<T>(src.data<T>(), out.data<T>(), out.numel());
      },
      [&](auto tag) {
        using T = decltype(tag);
        cuda::GeluForward<T>(src.data<T>(), out.data<T>(), out.numel());
      });
  RecordOp(out, "gelu", {x}, [src](const Tensor& g, const std::vector<bool>&) {
    CheckSameDevice("gelu", g, src);
    const Tensor gc = g.Contiguous();
    Tensor dx = Tensor::Empty(src.shape(), src.dtype(), src.device());
    DispatchDevice(
        "gelu", src,
        [&](auto tag) {
          using T = decltype(tag);
          cpu::GeluBackward<T>(gc.data<T>(), src.data<T>(), dx.data<T>(), dx.numel());
        },
        [&](auto tag) {
          using T = decltype(tag);
          cuda::GeluBackward<T>(gc.data<T>(), src.data<T>(), dx.data<T>(), dx.numel());
        });
    return std::vector<Tensor>{dx};
  });
  return out;
}

Tensor Exp(const Tensor& x) {
  Tensor out = x.device().is_cpu()
                   ? MapElementwise("exp", x, [](auto v) { return std::exp(v); })
                   : MapOnDevice("exp", x, [](const auto* src, auto* dst, int64_t n) { cuda::Exp(src, dst, n); });
  RecordOp(out, "exp", {x}, [y = out.Detach()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{Mul(g, y)};
  });
  return out;
}

Tensor Log(const Tensor& x) {
  Tensor out = x.device().is_cpu()
                   ? MapElementwise("log", x, [](auto v) { return std::log(v); })
                   : MapOnDevice("log", x, [](const auto* src, auto* dst, int64_t n) { cuda::Log(src, dst, n); });
  RecordOp(out, "log", {x}, [x](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{Div(g, x.Detach())};
  });
  return out;
}

}  // namespace vfm::ops

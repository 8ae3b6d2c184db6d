#include "autograd/ops/common.h"
#include "kernels/cpu/layernorm.h"

namespace vfm::ops {
using namespace internal;

Tensor LayerNorm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  CheckCpu("layernorm", x);
  const int64_t C = x.size(-1), rows = x.numel() / C;
  VFM_CHECK(w.shape() == Shape{C} && b.shape() == Shape{C})
      << "layernorm: input " << ShapeToString(x.shape()) << ", weight " << ShapeToString(w.shape()) << ", bias "
      << ShapeToString(b.shape());
  const Tensor xc = x.is_contiguous() ? x.Detach() : x.Clone();
  Tensor out = Tensor::Empty(x.shape(), x.dtype());
  Tensor mean = Tensor::Empty({rows}, x.dtype()), rstd = Tensor::Empty({rows}, x.dtype());
  DispatchFloat(x.dtype(), "layernorm", [&](auto tag) {
    using T = decltype(tag);
    cpu::LayerNormForward<T>(xc.data<T>(), w.data<T>(), b.data<T>(), out.data<T>(), mean.data<T>(),
                             rstd.data<T>(), rows, C, eps);
  });
  RecordOp(out, "layernorm", {x, w, b},
           [xc, w = w.Detach(), mean, rstd, rows, C](const Tensor& g, const std::vector<bool>&) {
             const Tensor gc = g.is_contiguous() ? g : g.Clone();
             Tensor dx = Tensor::Empty(xc.shape(), g.dtype());
             Tensor dw = Tensor::Zeros({C}, g.dtype()), db = Tensor::Zeros({C}, g.dtype());
             DispatchFloat(g.dtype(), "layernorm", [&](auto tag) {
               using T = decltype(tag);
               cpu::LayerNormBackward<T>(gc.data<T>(), xc.data<T>(), w.data<T>(), mean.data<T>(), rstd.data<T>(),
                                         dx.data<T>(), dw.data<T>(), db.data<T>(), rows, C);
             });
             return std::vector<Tensor>{dx, dw, db};
           });
  return out;
}

}  // namespace vfm::ops

#include "autograd/ops/common.h"
#include "kernels/cpu/layernorm.h"
#include "kernels/cuda/layernorm.h"

namespace vfm::ops {
using namespace internal;

// On the host mean and rstd are kept in x's dtype (f32/f64, as kernels/cpu/layernorm.h takes them);
// on a GPU they are fp32 whatever x's dtype (f32 or bf16), as kernels/cuda/layernorm.h takes them.
Tensor LayerNorm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  CheckSameDevice("layernorm", x, w);
  CheckSameDevice("layernorm", x, b);
  CheckSameDType("layernorm", x, w);
  CheckSameDType("layernorm", x, b);
  const int64_t C = x.size(-1), rows = x.numel() / C;
  VFM_CHECK(w.shape() == Shape{C} && b.shape() == Shape{C})
      << "layernorm: input " << ShapeToString(x.shape()) << ", weight " << ShapeToString(w.shape()) << ", bias "
      << ShapeToString(b.shape());
  const Tensor xc = x.is_contiguous() ? x.Detach() : x.Clone();
  const Device device = x.device();
  const DType stat_dtype = device.is_cpu() ? x.dtype() : DType::kF32;
  Tensor out = Tensor::Empty(x.shape(), x.dtype(), device);
  Tensor mean = Tensor::Empty({rows}, stat_dtype, device), rstd = Tensor::Empty({rows}, stat_dtype, device);
  DispatchDevice(
      "layernorm", x,
      [&](auto tag) {
        using T = decltype(tag);
        cpu::LayerNormForward<T>(xc.data<T>(), w.data<T>(), b.data<T>(), out.data<T>(), mean.data<T>(),
                                 rstd.data<T>(), rows, C, eps);
      },
      [&](auto tag) {
        using T = decltype(tag);
        const Tensor wc = w.is_contiguous() ? w : w.Clone(), bc = b.is_contiguous() ? b : b.Clone();
        cuda::LayerNormForward<T>(xc.data<T>(), wc.data<T>(), bc.data<T>(), out.data<T>(), mean.data<float>(),
                                  rstd.data<float>(), rows, C, eps);
      });
  RecordOp(out, "layernorm", {x, w, b},
           [xc, w = w.Detach(), mean, rstd, rows, C](const Tensor& g, const std::vector<bool>&) {
             const Tensor gc = g.is_contiguous() ? g : g.Clone();
             Tensor dx = Tensor::Empty(xc.shape(), g.dtype(), g.device());
             Tensor dw = Tensor::Zeros({C}, g.dtype(), g.device()), db = Tensor::Zeros({C}, g.dtype(), g.device());
             DispatchDevice(
                 "layernorm", g,
                 [&](auto tag) {
                   using T = decltype(tag);
                   cpu::LayerNormBackward<T>(gc.data<T>(), xc.data<T>(), w.data<T>(), mean.data<T>(),
                                             rstd.data<T>(), dx.data<T>(), dw.data<T>(), db.data<T>(), rows, C);
                 },
                 [&](auto tag) {
                   using T = decltype(tag);
                   const Tensor wc = w.is_contiguous() ? w : w.Clone();
                   Tensor workspace =
                       Tensor::Empty({cuda::LayerNormBackwardWorkspace(rows, C)}, DType::kF32, g.device());
                   cuda::LayerNormBackward<T>(gc.data<T>(), xc.data<T>(), wc.data<T>(), mean.data<float>(),
                                              rstd.data<float>(), dx.data<T>(), dw.data<T>(), db.data<T>(), rows, C,
                                              workspace.data<float>());
                 });
             return std::vector<Tensor>{dx, dw, db};
           });
  return out;
}

}  // namespace vfm::ops

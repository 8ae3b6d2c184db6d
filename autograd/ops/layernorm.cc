#include "autograd/ops/common.h"
#include "kernels/cpu/layernorm.h"
#include "kernels/cuda/layernorm.h"

namespace vfm::ops {
using namespace internal;

namespace {

// On the host mean and rstd are kept in x's dtype (f32/f64, as kernels/cpu/layernorm.h takes them);
// on a GPU they are fp32 whatever x's dtype (f32 or bf16), as kernels/cuda/layernorm.h takes them.
// The normalisation reads the affine parameters from w_values, b_values (x's dtype); the graph records
// w and b, whose gradients come in their own dtype (f32 masters of bf16 values on a GPU get the kernel's
// fp32 sums unrounded; elsewhere the gradients are converted).
Tensor LayerNormOf(const Tensor& x, const Tensor& w, const Tensor& w_values, const Tensor& b, const Tensor& b_values,
                   double eps) {
  CheckSameDevice("layernorm", x, w_values);
  CheckSameDevice("layernorm", x, b_values);
  CheckSameDType("layernorm", x, w_values);
  CheckSameDType("layernorm", x, b_values);
  const int64_t C = x.size(-1), rows = x.numel() / C;
  VFM_CHECK(w_values.shape() == Shape{C} && b_values.shape() == Shape{C})
      << "layernorm: input " << ShapeToString(x.shape()) << ", weight " << ShapeToString(w_values.shape())
      << ", bias " << ShapeToString(b_values.shape());
  const Tensor xc = x.Contiguous();
  const Tensor wc = w_values.Contiguous();
  const Tensor bc = b_values.Contiguous();
  const Device device = x.device();
  const DType stat_dtype = device.is_cpu() ? x.dtype() : DType::kF32;
  Tensor out = Tensor::Empty(x.shape(), x.dtype(), device);
  Tensor mean = Tensor::Empty({rows}, stat_dtype, device), rstd = Tensor::Empty({rows}, stat_dtype, device);
  DispatchDevice(
      "layernorm", x,
      [&](auto tag) {
        using T = decltype(tag);
        cpu::LayerNormForward<T>(xc.data<T>(), wc.data<T>(), bc.data<T>(), out.data<T>(), mean.data<T>(),
                                 rstd.data<T>(), rows, C, eps);
      },
      [&](auto tag) {
        using T = decltype(tag);
        cuda::LayerNormForward<T>(xc.data<T>(), wc.data<T>(), bc.data<T>(), out.data<T>(), mean.data<float>(),
                                  rstd.data<float>(), rows, C, eps);
      });
  const DType w_dtype = w.dtype();
  RecordOp(out, "layernorm", {x, w, b},
           [xc, wc, mean, rstd, rows, C, w_dtype](const Tensor& g, const std::vector<bool>&) {
             const Tensor gc = g.Contiguous();
             Tensor dx = Tensor::Empty(xc.shape(), g.dtype(), g.device());
             Tensor dw, db;
             DispatchDevice(
                 "layernorm", g,
                 [&](auto tag) {
                   using T = decltype(tag);
                   dw = Tensor::Zeros({C}, g.dtype()), db = Tensor::Zeros({C}, g.dtype());
                   cpu::LayerNormBackward<T>(gc.data<T>(), xc.data<T>(), wc.data<T>(), mean.data<T>(),
                                             rstd.data<T>(), dx.data<T>(), dw.data<T>(), db.data<T>(), rows, C);
                   if (w_dtype != g.dtype()) dw = dw.To(w_dtype), db = db.To(w_dtype);
                 },
                 [&](auto tag) {
                   using T = decltype(tag);
                   dw = Tensor::Zeros({C}, w_dtype, g.device()), db = Tensor::Zeros({C}, w_dtype, g.device());
                   Tensor workspace =
                       Tensor::Empty({cuda::LayerNormBackwardWorkspace(rows, C)}, DType::kF32, g.device());
                   const auto backward = [&](auto* dw_out, auto* db_out) {
                     cuda::LayerNormBackward(gc.data<T>(), xc.data<T>(), wc.data<T>(), mean.data<float>(),
                                             rstd.data<float>(), dx.data<T>(), dw_out, db_out, rows, C,
                                             workspace.data<float>());
                   };
                   if (w_dtype == DType::kF32) backward(dw.data<float>(), db.data<float>());
                   else backward(dw.data<T>(), db.data<T>());
                 });
             return std::vector<Tensor>{dx, dw, db};
           });
  return out;
}

}  // namespace

Tensor LayerNorm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  CheckSameDType("layernorm", w, b);
  return LayerNormOf(x, w, w, b, b, eps);
}

Tensor LayerNormMixed(const Tensor& x, const Tensor& w, const Tensor& w_values, const Tensor& b,
                      const Tensor& b_values, double eps) {
  VFM_CHECK(w.shape() == w_values.shape() && b.shape() == b_values.shape() && w.device() == w_values.device() &&
            b.device() == b_values.device() && w.dtype() == b.dtype())
      << "layernorm: parameters " << ShapeToString(w.shape()) << ", " << ShapeToString(b.shape()) << " ("
      << DTypeName(w.dtype()) << ", " << DTypeName(b.dtype()) << ") with values " << ShapeToString(w_values.shape())
      << ", " << ShapeToString(b_values.shape());
  return LayerNormOf(x, w, w_values, b, b_values, eps);
}

}  // namespace vfm::ops

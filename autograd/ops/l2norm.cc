#include "autograd/ops/common.h"
#include "kernels/cpu/l2norm.h"
#include "kernels/cuda/l2norm.h"

namespace vfm::ops {
using namespace internal;

// On the host the saved row norms are in x's dtype (f32/f64); on a GPU they are fp32 (x f32 or bf16).
Tensor L2Normalize(const Tensor& x, double eps) {
  const int64_t C = x.size(-1), rows = x.numel() / C;
  const Tensor xc = x.Contiguous();
  const Device device = x.device();
  Tensor out = Tensor::Empty(x.shape(), x.dtype(), device);
  Tensor norm = Tensor::Empty({rows}, device.is_cpu() ? x.dtype() : DType::kF32, device);
  DispatchDevice(
      "l2_normalize", x,
      [&](auto tag) {
        using T = decltype(tag);
        cpu::L2NormalizeForward<T>(xc.data<T>(), out.data<T>(), norm.data<T>(), rows, C, eps);
      },
      [&](auto tag) {
        using T = decltype(tag);
        cuda::L2NormalizeForward<T>(xc.data<T>(), out.data<T>(), norm.data<float>(), rows, C, eps);
      });
  RecordOp(out, "l2_normalize", {x}, [y = out.Detach(), norm, rows, C, eps](const Tensor& g, const std::vector<bool>&) {
    const Tensor gc = g.Contiguous();
    Tensor dx = Tensor::Empty(y.shape(), y.dtype(), y.device());
    DispatchDevice(
        "l2_normalize", y,
        [&](auto tag) {
          using T = decltype(tag);
          cpu::L2NormalizeBackward<T>(gc.data<T>(), y.data<T>(), norm.data<T>(), dx.data<T>(), rows, C, eps);
        },
        [&](auto tag) {
          using T = decltype(tag);
          cuda::L2NormalizeBackward<T>(gc.data<T>(), y.data<T>(), norm.data<float>(), dx.data<T>(), rows, C, eps);
        });
    return std::vector<Tensor>{dx};
  });
  return out;
}

Tensor WeightNormLinear(const Tensor& x, const Tensor& v, const Tensor& g) {
  VFM_CHECK(v.dim() == 2 && g.shape() == Shape{v.size(0)})
      << "weight_norm_linear: v " << ShapeToString(v.shape()) << ", g " << ShapeToString(g.shape());
  // W = g * v / ||v|| (row norms; torch.nn.utils.weight_norm with dim=0), then y = x W^T.
  const Tensor w = Mul(L2Normalize(v, 0.0), Reshape(g, {v.size(0), 1}));
  return Linear(x, w);
}

}  // namespace vfm::ops

#include "autograd/ops/common.h"
#include "kernels/cpu/resize_bicubic.h"
#include "kernels/cuda/resize_bicubic.h"

namespace vfm::ops {
using namespace internal;

Tensor ResizeBicubic(const Tensor& x, int64_t out_h, int64_t out_w) {
  VFM_CHECK(x.dim() == 4 && out_h > 0 && out_w > 0)
      << "resize_bicubic: input " << ShapeToString(x.shape()) << " must be [B, h, w, D]";
  const int64_t B = x.size(0), h = x.size(1), w = x.size(2), D = x.size(3);
  if (h == out_h && w == out_w) return x;
  const Tensor xc = x.Contiguous();
  Tensor out = Tensor::Empty({B, out_h, out_w, D}, x.dtype(), x.device());
  DispatchDevice(
      "resize_bicubic", x,
      [&](auto tag) {
        using T = decltype(tag);
        cpu::ResizeBicubicForward<T>(xc.data<T>(), out.data<T>(), B, h, w, out_h, out_w, D);
      },
      [&](auto tag) {
        using T = decltype(tag);
        cuda::ResizeBicubicForward<T>(xc.data<T>(), out.data<T>(), B, h, w, out_h, out_w, D);
      });
  RecordOp(out, "resize_bicubic", {x}, [=](const Tensor& g, const std::vector<bool>&) {
    const Tensor gc = g.Contiguous();
    Tensor dx = Tensor::Empty({B, h, w, D}, g.dtype(), g.device());
    DispatchDevice(
        "resize_bicubic", g,
        [&](auto tag) {
          using T = decltype(tag);
          cpu::ResizeBicubicBackward<T>(gc.data<T>(), dx.data<T>(), B, h, w, out_h, out_w, D);
        },
        [&](auto tag) {
          using T = decltype(tag);
          cuda::ResizeBicubicBackward<T>(gc.data<T>(), dx.data<T>(), B, h, w, out_h, out_w, D);
        });
    return std::vector<Tensor>{dx};
  });
  return out;
}

}  // namespace vfm::ops

#include "autograd/ops/common.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cuda/softmax.h"

namespace vfm::ops {
using namespace internal;

namespace {
// Softmax-like op over the last dim: forward(x, y, rows, C) and backward(dy, y, dx, rows, C) kernels,
// one pair for the host (cpu::) and one for the GPU (cuda::).
template <typename CpuFwd, typename CpuBwd, typename CudaFwd, typename CudaBwd>
Tensor RowOp(const char* name, const Tensor& x, CpuFwd cpu_forward, CpuBwd cpu_backward, CudaFwd cuda_forward,
             CudaBwd cuda_backward) {
  const int64_t C = x.size(-1), rows = x.numel() / C;
  const Tensor xc = x.Contiguous();
  Tensor out = Tensor::Empty(x.shape(), x.dtype(), x.device());
  DispatchDevice(
      name, x,
      [&](auto tag) {
        using T = decltype(tag);
        cpu_forward(xc.data<T>(), out.data<T>(), rows, C);
      },
      [&](auto tag) {
        using T = decltype(tag);
        cuda_forward(xc.data<T>(), out.data<T>(), rows, C);
      });
  auto backward = [name, y = out.Detach(), rows, C, cpu_backward, cuda_backward](const Tensor& g,
                                                                                   const std::vector<bool>&) {
    const Tensor gc = g.Contiguous();
    Tensor dx = Tensor::Empty(y.shape(), y.dtype(), y.device());
    DispatchDevice(
        name, y,
        [&](auto tag) {
          using T = decltype(tag);
          cpu_backward(gc.data<T>(), y.data<T>(), dx.data<T>(), rows, C);
        },
        [&](auto tag) {
          using T = decltype(tag);
          cuda_backward(gc.data<T>(), y.data<T>(), dx.data<T>(), rows, C);
        });
    return std::vector<Tensor>{dx};
  };
  RecordOp(out, name, {x}, backward);
  return out;
}
}  // namespace

Tensor Softmax(const Tensor& x) {
  return RowOp(
      "softmax", x, [](auto* in, auto* out, int64_t r, int64_t c) { cpu::SoftmaxForward(in, out, r, c); },
      [](auto* dy, auto* y, auto* dx, int64_t r, int64_t c) { cpu::SoftmaxBackward(dy, y, dx, r, c); },
      [](auto* in, auto* out, int64_t r, int64_t c) { cuda::SoftmaxForward(in, out, r, c); },
      [](auto* dy, auto* y, auto* dx, int64_t r, int64_t c) { cuda::SoftmaxBackward(dy, y, dx, r, c); });
}

Tensor LogSoftmax(const Tensor& x) {
  return RowOp(
      "log_softmax", x, [](auto* in, auto* out, int64_t r, int64_t c) { cpu::LogSoftmaxForward(in, out, r, c); },
      [](auto* dy, auto* y, auto* dx, int64_t r, int64_t c) { cpu::LogSoftmaxBackward(dy, y, dx, r, c); },
      [](auto* in, auto* out, int64_t r, int64_t c) { cuda::LogSoftmaxForward(in, out, r, c); },
      [](auto* dy, auto* y, auto* dx, int64_t r, int64_t c) { cuda::LogSoftmaxBackward(dy, y, dx, r, c); });
}

}  // namespace vfm::ops

// Stochastic depth: a whole residual branch of a sample is dropped (0) or kept and scaled by 1/keep_prob
// (kernels/cpu/drop_path.h). The backward is the same scaling of the gradient. On a GPU the per-sample
// scales are uploaded as a small fp32 tensor and the residual form's add is fused into the kernel
// (kernels/cuda/drop_path.h); on the host the residual form is an Add.
#include "autograd/ops/common.h"
#include "kernels/cpu/drop_path.h"
#include "kernels/cuda/drop_path.h"

namespace vfm::ops {
using namespace internal;

namespace {

void CheckKeep(const Tensor& x, const std::vector<uint8_t>& keep, double keep_prob) {
  VFM_CHECK(x.dim() >= 1 && int64_t(keep.size()) == x.size(0) && keep_prob > 0 && keep_prob <= 1)
      << "drop_path: " << keep.size() << " keep flags for " << ShapeToString(x.shape()) << ", keep_prob "
      << keep_prob;
}

// [residual +] x * scale[b] on the GPU; the gradient of x is g * scale[b], that of the residual g.
template <typename T>
Tensor DropPathOnDevice(const Tensor& x, const std::vector<uint8_t>& keep, double keep_prob, const Tensor& residual) {
  const int64_t B = x.size(0), inner = B > 0 ? x.numel() / B : 0;
  const Tensor scale = Tensor::FromVector(cpu::DropPathScales<float>(keep, keep_prob), {B}).ToDevice(x.device());
  const Tensor xc = x.Contiguous();
  const Tensor rc = residual.defined() ? residual.Contiguous() : residual;
  Tensor out = Tensor::Empty(x.shape(), x.dtype(), x.device());
  cuda::DropPathScale<T>(xc.data<T>(), scale.data<float>(), out.data<T>(), B, inner,
                         rc.defined() ? rc.data<T>() : nullptr);
  const auto scaled = [scale, B, inner](const Tensor& g) {
    const Tensor gc = g.Contiguous();
    Tensor dx = Tensor::Empty(g.shape(), g.dtype(), g.device());
    cuda::DropPathScale<T>(gc.data<T>(), scale.data<float>(), dx.data<T>(), B, inner);
    return dx;
  };
  if (residual.defined()) {
    RecordOp(out, "drop_path_add", {residual, x}, [scaled](const Tensor& g, const std::vector<bool>& needs) {
      return std::vector<Tensor>{g, needs[1] ? scaled(g) : Tensor()};
    });
  } else {
    RecordOp(out, "drop_path", {x}, [scaled](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{scaled(g)};
    });
  }
  return out;
}

// x * scale[b] on the host; the gradient of x is g * scale[b].
template <typename T>
Tensor DropPathOnHost(const Tensor& x, const std::vector<uint8_t>& keep, double keep_prob) {
  const int64_t B = x.size(0), inner = B > 0 ? x.numel() / B : 0;
  const std::vector<T> scale = cpu::DropPathScales<T>(keep, keep_prob);
  const Tensor xc = x.Contiguous();
  Tensor out = Tensor::Empty(x.shape(), x.dtype());
  cpu::DropPathScale<T>(xc.data<T>(), scale.data(), out.data<T>(), B, inner);
  RecordOp(out, "drop_path", {x}, [scale, B, inner](const Tensor& g, const std::vector<bool>&) {
    const Tensor gc = g.Contiguous();
    Tensor dx = Tensor::Empty(g.shape(), g.dtype());
    cpu::DropPathScale<T>(gc.data<T>(), scale.data(), dx.data<T>(), B, inner);
    return std::vector<Tensor>{dx};
  });
  return out;
}

}  // namespace

Tensor DropPath(const Tensor& x, const std::vector<uint8_t>& keep, double keep_prob) {
  CheckKeep(x, keep, keep_prob);
  return DispatchDevice(
      "drop_path", x,
      [&](auto tag) { return DropPathOnHost<decltype(tag)>(x, keep, keep_prob); },
      [&](auto tag) { return DropPathOnDevice<decltype(tag)>(x, keep, keep_prob, Tensor()); });
}

Tensor DropPathAdd(const Tensor& residual, const Tensor& x, const std::vector<uint8_t>& keep, double keep_prob) {
  CheckKeep(x, keep, keep_prob);
  VFM_CHECK(residual.shape() == x.shape()) << "drop_path_add: residual " << ShapeToString(residual.shape())
                                           << ", branch " << ShapeToString(x.shape());
  CheckSameDType("drop_path_add", residual, x);
  CheckSameDevice("drop_path_add", residual, x);
  return DispatchDevice(
      "drop_path_add", x, [&](auto) { return Add(residual, DropPath(x, keep, keep_prob)); },
      [&](auto tag) { return DropPathOnDevice<decltype(tag)>(x, keep, keep_prob, residual); });
}

}  // namespace vfm::ops

// Stochastic depth: a whole residual branch of a sample is dropped (0) or kept and scaled by 1/keep_prob.
// On the host: Mul(x, scale) with scale [B, 1, ...] (and Add for the residual form). On a GPU: one
// kernel (kernels/cuda/drop_path.h) with the per-sample scales uploaded as a small fp32 tensor, the
// residual add fused into it, and the same kernel for the backward.
#include "autograd/ops/common.h"
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
  std::vector<float> host_scale(keep.size());
  for (size_t b = 0; b < keep.size(); ++b) host_scale[b] = keep[b] ? float(1.0 / keep_prob) : 0.0f;
  const Tensor scale = Tensor::FromVector(host_scale, {B}).ToDevice(x.device());
  const Tensor xc = x.is_contiguous() ? x : x.Clone();
  const Tensor rc = !residual.defined() || residual.is_contiguous() ? residual : residual.Clone();
  Tensor out = Tensor::Empty(x.shape(), x.dtype(), x.device());
  cuda::DropPathScale<T>(xc.data<T>(), scale.data<float>(), out.data<T>(), B, inner,
                         rc.defined() ? rc.data<T>() : nullptr);
  const auto scaled = [scale, B, inner](const Tensor& g) {
    const Tensor gc = g.is_contiguous() ? g : g.Clone();
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

}  // namespace

Tensor DropPath(const Tensor& x, const std::vector<uint8_t>& keep, double keep_prob) {
  CheckKeep(x, keep, keep_prob);
  return DispatchDevice(
      "drop_path", x,
      [&](auto tag) {
        using T = decltype(tag);
        Shape mask_shape(size_t(x.dim()), 1);
        mask_shape[0] = x.size(0);
        Tensor scale = Tensor::Empty(mask_shape, x.dtype());
        for (size_t b = 0; b < keep.size(); ++b) scale.data<T>()[b] = keep[b] ? T(1.0 / keep_prob) : T(0);
        return Mul(x, scale);
      },
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

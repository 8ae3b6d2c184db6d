#include "autograd/ops/common.h"
#include "kernels/cpu/normalize_images.h"
#include "kernels/cuda/normalize_images.h"

namespace vfm::ops {
using namespace internal;

Tensor NormalizeImages(const Tensor& images, const Tensor& norms, DType dtype) {
  VFM_CHECK(images.dtype() == DType::kU8 && images.dim() == 4 && images.size(1) == 3 && images.is_contiguous())
      << "normalize_images: images must be contiguous u8 [B, 3, H, W], got " << DTypeName(images.dtype()) << " "
      << ShapeToString(images.shape());
  const int64_t B = images.size(0), plane = images.size(2) * images.size(3);
  VFM_CHECK(norms.dtype() == DType::kF32 && norms.shape() == (Shape{B, 3, 2}) && norms.is_contiguous())
      << "normalize_images: norms must be contiguous f32 [" << B << ", 3, 2], got " << ShapeToString(norms.shape());
  CheckSameDevice("normalize_images", images, norms);
  static_assert(sizeof(cpu::PlaneNorm) == 2 * sizeof(float), "PlaneNorm is (scale, shift)");
  const auto* table = reinterpret_cast<const cpu::PlaneNorm*>(norms.data<float>());
  Tensor out = Tensor::Empty(images.shape(), dtype, images.device());
  if (images.device().is_cpu()) {
    VFM_CHECK(dtype == DType::kF32) << "normalize_images: the host writes f32, not " << DTypeName(dtype);
    cpu::NormalizeImages(images.data<uint8_t>(), table, out.data<float>(), B * 3, plane);
    return out;
  }
  DispatchDevice(
      "normalize_images", out, [](auto) {},
      [&](auto tag) {
        using T = decltype(tag);
        cuda::NormalizeImages<T>(images.data<uint8_t>(), table, out.data<T>(), B * 3, plane);
      });
  return out;
}

}  // namespace vfm::ops

#include "autograd/ops/common.h"
#include "kernels/cpu/patch_embed.h"
#include "kernels/cuda/patch_embed.h"

namespace vfm::ops {
using namespace internal;

namespace {
// img [B, C, H, W] -> [B, (H/p)(W/p), C p p]; backward is the inverse permutation.
Tensor Patchify(const Tensor& img, int64_t p) {
  VFM_CHECK(img.dim() == 4 && p > 0 && img.size(2) % p == 0 && img.size(3) % p == 0)
      << "patch_embed: image " << ShapeToString(img.shape()) << " is not [B, C, H, W] divisible by patch " << p;
  const int64_t B = img.size(0), C = img.size(1), H = img.size(2), W = img.size(3);
  const Tensor src = img.Contiguous();
  Tensor cols = Tensor::Empty({B, (H / p) * (W / p), C * p * p}, img.dtype(), img.device());
  DispatchDevice(
      "patchify", img,
      [&](auto tag) {
        using T = decltype(tag);
        cpu::Patchify<T>(src.data<T>(), cols.data<T>(), B, C, H, W, p);
      },
      [&](auto tag) {
        using T = decltype(tag);
        cuda::Patchify<T>(src.data<T>(), cols.data<T>(), B, C, H, W, p);
      });
  const Shape in_shape = img.shape();
  RecordOp(cols, "patchify", {img}, [in_shape, p](const Tensor& g, const std::vector<bool>&) {
    const Tensor gc = g.Contiguous();
    Tensor dimg = Tensor::Empty(in_shape, g.dtype(), g.device());
    DispatchDevice(
        "patchify", gc,
        [&](auto tag) {
          using T = decltype(tag);
          cpu::Unpatchify<T>(gc.data<T>(), dimg.data<T>(), in_shape[0], in_shape[1], in_shape[2], in_shape[3], p);
        },
        [&](auto tag) {
          using T = decltype(tag);
          cuda::Unpatchify<T>(gc.data<T>(), dimg.data<T>(), in_shape[0], in_shape[1], in_shape[2], in_shape[3], p);
        });
    return std::vector<Tensor>{dimg};
  });
  return cols;
}
}  // namespace

Tensor PatchEmbed(const Tensor& img, const Tensor& w, const Tensor& b, int64_t patch) {
  VFM_CHECK(w.dim() == 4 && w.size(1) == img.size(1) && w.size(2) == patch && w.size(3) == patch)
      << "patch_embed: weight " << ShapeToString(w.shape()) << " for image " << ShapeToString(img.shape())
      << " and patch " << patch;
  return Linear(Patchify(img, patch), Reshape(w, {w.size(0), -1}), b);
}

}  // namespace vfm::ops

#include "trainer/ibot_loss.h"

#include <algorithm>

namespace vfm {

using namespace ops;

IBotLoss::IBotLoss(int64_t out_dim, int64_t n_global, int64_t n_local, IBotLossConfig config)
    : center(Tensor::Zeros({1, out_dim})),
      center2(Tensor::Zeros({1, 1, out_dim})),
      n_global_(n_global),
      n_local_(n_local),
      config_(config) {
  VFM_CHECK(n_global >= 1 && n_local >= 0) << "iBOT loss needs at least one global crop";
}

Tensor MaskedIndices(const Tensor& masks) {
  VFM_CHECK(masks.device().is_cpu() && masks.dtype() == DType::kU8 && masks.dim() == 2 && masks.is_contiguous())
      << "masks must be contiguous u8 [rows, N] on the host, got " << ShapeToString(masks.shape()) << " on "
      << masks.device().ToString();
  const uint8_t* m = masks.data<uint8_t>();
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < masks.numel(); ++i)
    if (m[i]) idx.push_back(i);
  Tensor out = Tensor::Empty({1, int64_t(idx.size())}, DType::kI64);
  std::copy(idx.begin(), idx.end(), out.data<int64_t>());
  return out;
}

void IBotLoss::MoveTo(Device device) {
  center = center.ToDevice(device);
  center2 = center2.ToDevice(device);
}

// The loss runs in f32 whatever the network computed in (softmax over K prototypes in bf16 would lose
// the small probabilities); the casts carry the gradient back in the network's dtype. Masks stay on the
// host: the masked-patch indices and weights are known there before the step, and are uploaded. The
// teacher's patch targets are only needed at masked positions, and centring, temperature and softmax
// work row by row, so they run on the gathered masked rows (about a sixth of a ViT-B step's 25,088 x
// 8192 patch outputs) rather than on all of them: the same values, a fraction of the passes.
IBotLossOutput IBotLoss::Forward(const Tensor& student_cls_in, const Tensor& student_masked_in,
                                 const Tensor& teacher_cls_in, const Tensor& teacher_patch_in, const Tensor& masks,
                                 const Tensor& idx, double teacher_temp, double teacher_patch_temp) const {
  const Tensor student_cls = Cast(student_cls_in, DType::kF32), student_masked = Cast(student_masked_in, DType::kF32);
  const Tensor teacher_cls = Cast(teacher_cls_in, DType::kF32);
  const Device device = student_cls.device();
  const int64_t n_crops = n_global_ + n_local_, K = center.size(1);
  VFM_CHECK(teacher_cls.dim() == 2 && teacher_cls.size(0) % n_global_ == 0 && teacher_cls.size(1) == K)
      << "teacher_cls " << ShapeToString(teacher_cls.shape());
  const int64_t B = teacher_cls.size(0) / n_global_, N = teacher_patch_in.size(1);
  VFM_CHECK(student_cls.shape() == (Shape{n_crops * B, K}))
      << "student_cls " << ShapeToString(student_cls.shape()) << ", expected [" << n_crops * B << ", " << K << "]";
  VFM_CHECK(teacher_patch_in.shape() == (Shape{n_global_ * B, N, K}) && masks.shape() == (Shape{n_global_ * B, N}))
      << "teacher_patch " << ShapeToString(teacher_patch_in.shape()) << ", masks " << ShapeToString(masks.shape());

  // Teacher targets and the weights they put on the student's log-probabilities (constants: no grad).
  Tensor cls_weights, patch_weights;
  {
    NoGradGuard no_grad;
    const Tensor t = Softmax(Scale(Sub(teacher_cls, center), 1.0 / teacher_temp));  // [nG*B, K]
    // W_v = sum_q t_q - t_v (v global) or sum_q t_q (v local): the pairs q != v.
    const Tensor t_sum = Sum(Reshape(t, {n_global_, B, K}), 0);                       // [B, K]
    Tensor w = Expand(t_sum, {n_crops, B, K}).Clone();
    Tensor w_global = w.View({n_global_, B, K}, w.strides(), 0);
    w_global.CopyFrom(Sub(w_global, Reshape(t, {n_global_, B, K})));
    const int64_t n_pairs = n_global_ * n_crops - n_global_;
    cls_weights = Scale(Reshape(w, {n_crops * B, K}), -config_.lambda1 / double(n_pairs * B));

    // Patch targets at masked positions, each weighted by 1 / max(masked count of its image, 1).
    VFM_CHECK(idx.dtype() == DType::kI64 && idx.dim() == 2 && idx.size(0) == 1 && idx.device() == device)
        << "masked indices " << ShapeToString(idx.shape()) << " on " << idx.device().ToString();
    const Tensor tp_rows =
        Reshape(GatherTokens(Reshape(teacher_patch_in, {1, n_global_ * B * N, K}), idx), {idx.size(1), K});
    const Tensor tp_masked =
        Softmax(Scale(Sub(Cast(tp_rows, DType::kF32), Reshape(center2, {1, K})), 1.0 / teacher_patch_temp));
    // Masked patches per image, counted once.
    const uint8_t* m = masks.data<uint8_t>();
    std::vector<int64_t> count(size_t(n_global_ * B), 0);
    for (int64_t i = 0; i < masks.numel(); ++i) count[size_t(i / N)] += m[i] != 0;
    Tensor row_w = Tensor::Empty({idx.size(1), 1}, DType::kF32);
    int64_t r = 0;
    for (int64_t i = 0; i < masks.numel(); ++i)
      if (m[i])
        row_w.data<float>()[r++] =
            float(-config_.lambda2 / (double(std::max<int64_t>(count[size_t(i / N)], 1)) * double(B * n_global_)));
    patch_weights = Mul(tp_masked, row_w.ToDevice(device));
  }
  VFM_CHECK(student_masked.shape() == patch_weights.shape())
      << "student_masked " << ShapeToString(student_masked.shape()) << " for " << patch_weights.size(0)
      << " masked patches";

  IBotLossOutput out;
  out.cls_loss = Sum(Mul(cls_weights, LogSoftmax(Scale(student_cls, 1.0 / config_.student_temp))));
  out.patch_loss = patch_weights.size(0) > 0
                       ? Sum(Mul(patch_weights, LogSoftmax(Scale(student_masked, 1.0 / config_.student_temp))))
                       : Tensor::Zeros({}, DType::kF32, device);
  out.loss = Add(out.cls_loss, out.patch_loss);
  return out;
}

void IBotLoss::UpdateCenters(const Tensor& teacher_cls, const Tensor& teacher_patch,
                             const std::function<void(Tensor&)>& all_reduce_sum, int world) {
  NoGradGuard no_grad;
  const int64_t K = center.size(1);
  Tensor cls_sum = Reshape(Sum(Cast(teacher_cls.Detach(), DType::kF32), 0), {1, K}).Clone();
  Tensor patch_sum = Reshape(Sum(Mean(Cast(teacher_patch.Detach(), DType::kF32), 1), 0), {1, 1, K}).Clone();
  all_reduce_sum(cls_sum);
  all_reduce_sum(patch_sum);
  const double n = double(teacher_cls.size(0)) * world;
  const double mu = config_.center_momentum, mu2 = config_.center_momentum2;
  center = Add(Scale(center, mu), Scale(cls_sum, (1 - mu) / n));
  center2 = Add(Scale(center2, mu2), Scale(patch_sum, (1 - mu2) / n));
}

}  // namespace vfm

// The iBOT objective (Zhou et al. 2022), as iBOT's iBOTLoss computes it:
//   t_q = softmax((teacher_cls_q - c) / tau_t),  s_v = log_softmax(student_cls_v / tau_s)
//   L_cls   = lambda1 * mean over pairs (q global, v any crop, v != q) of  mean_b -sum_k t_q s_v
//   L_patch = lambda2 * mean over global crops q of  mean_b [ sum_n m_bn (-sum_k tp_bn sp_bn) / max(sum_n m_bn, 1) ]
// with tp = softmax((teacher_patch - c2) / tau_tp), sp = log_softmax(student_patch / tau_s), m the mask.
// Centres: c <- mu c + (1 - mu) mean_b teacher_cls, c2 <- mu2 c2 + (1 - mu2) mean_b mean_n teacher_patch.
//
// Two exact rewrites keep it cheap: the pairs sum as (sum_q t_q - t_v) . s_v, and the student's patch
// logits are needed only at masked positions (the other terms have weight 0), so they come in gathered.
#pragma once
#include <functional>

#include "autograd/ops.h"

namespace vfm {

struct IBotLossConfig {
  double student_temp = 0.1;
  double center_momentum = 0.9, center_momentum2 = 0.9;
  double lambda1 = 1.0, lambda2 = 1.0;
  // Weight of DINOv2's KoLeo term (trainer/koleo_loss.h) on the student's [CLS] backbone tokens of each
  // global crop, added by IBotForward (0: off, as in iBOT and VisionFM).
  double koleo = 0.0;
};

struct IBotLossOutput {
  Tensor loss, cls_loss, patch_loss;  // scalars; loss = cls_loss + patch_loss (+ koleo * koleo_loss)
  Tensor koleo_loss;                  // scalar, summed over the global crops; undefined when the weight is 0
};

class IBotLoss {
 public:
  IBotLoss(int64_t out_dim, int64_t n_global, int64_t n_local, IBotLossConfig config = {});

  // student_cls [n_crops*B, K] logits, crop-major, global crops first; student_masked [M, K] logits of
  // the masked patches in row-major order of masks [n_global*B, N] (u8, on the host); masked_idx their
  // flat indices, MaskedIndices(masks), on the training device (the step has them already);
  // teacher_cls [n_global*B, K]; teacher_patch [n_global*B, N, K].
  IBotLossOutput Forward(const Tensor& student_cls, const Tensor& student_masked, const Tensor& teacher_cls,
                         const Tensor& teacher_patch, const Tensor& masks, const Tensor& masked_idx,
                         double teacher_temp, double teacher_patch_temp) const;

  // Moves the centres towards this step's teacher means. all_reduce_sum sums a host tensor in place across
  // ranks (identity on one rank); world is the number of ranks.
  void UpdateCenters(const Tensor& teacher_cls, const Tensor& teacher_patch,
                     const std::function<void(Tensor&)>& all_reduce_sum, int world);

  // Puts the centres on the training device (created on the host).
  void MoveTo(Device device);

  const IBotLossConfig& config() const { return config_; }
  int64_t n_global() const { return n_global_; }

  Tensor center, center2;  // [1, K], [1, 1, K], f32 on the training device

 private:
  int64_t n_global_, n_local_;
  IBotLossConfig config_;
};

// Flat indices (into [rows, N]) of the set entries of a u8 mask [rows, N], as an i64 [1, M] tensor.
Tensor MaskedIndices(const Tensor& masks);

}  // namespace vfm

// One iBOT forward: the teacher sees the global crops unmasked, the student sees the global crops with
// their masked patches replaced by the mask token plus the local crops; the shared head projects the
// student's [CLS] tokens and its masked patch tokens, the teacher's [CLS] and all its patch tokens
// (all of them are needed for the patch centre).
#pragma once
#include <string>
#include <vector>

#include "autograd/nn/ibot_head.h"
#include "trainer/adamw.h"
#include "trainer/ibot_loss.h"

namespace vfm {

// A step's input, crop-major as the loader lays it out (data::CropGroup): row v * B + i is crop v of
// sample i, so each crop size goes through the backbone in one forward as it is.
struct IBotCrops {
  Tensor global;  // [n_global * B, C, S, S]
  Tensor local;   // [n_local * B, C, s, s]; undefined without local crops
  Tensor masks;   // [n_global * B, (S/p)^2] u8, on the host
};

struct IBotForwardResult {
  IBotLossOutput loss;
  Tensor teacher_cls, teacher_patch;  // head logits, for the centre update
};

IBotForwardResult IBotForward(const nn::IBotNetwork& student, const nn::IBotNetwork& teacher, const IBotLoss& loss,
                              const IBotCrops& crops, double teacher_temp, double teacher_patch_temp,
                              Rng* drop_path_rng);

// The values of every schedule at one step.
struct IBotStepSettings {
  double lr, weight_decay, ema_momentum, teacher_temp, teacher_patch_temp;
  double clip_grad = 3.0;          // per-parameter; 0 disables
  bool freeze_last_layer = false;  // drop the last layer's gradients (iBOT's first epochs)
};

// What data parallel training plugs into a step (all empty on one rank).
struct IBotStepHooks {
  // After backward: waits until the gradients are averaged across ranks (in their buckets; under ZeRO-1
  // each rank's block of every bucket).
  std::function<void()> after_backward;
  // Sums a tensor across ranks in place: the centres, and under ZeRO-1 the per-parameter squared gradient
  // norms of the clip (AdamW::ClipGradients). world is the number of ranks.
  std::function<void(Tensor&)> all_reduce_sum;
  // After the optimizer step: ZeRO-1 all-gathers the parameters each rank updated.
  std::function<void()> after_update;
  int world = 1;
};

// The parameters whose gradients settings.freeze_last_layer drops.
bool IsLastLayerParameter(const std::string& name);

// A whole training step: forward, backward, last-layer freeze, clipping, AdamW, EMA, centres. The optimizer
// updates the student's parameters through their gradient buckets (trainer/adamw.h).
IBotForwardResult IBotTrainStep(nn::IBotNetwork& student, nn::IBotNetwork& teacher, IBotLoss& loss, AdamW& optimizer,
                                const IBotCrops& crops, const IBotStepSettings& settings, Rng* drop_path_rng,
                                const IBotStepHooks& hooks = {});

}  // namespace vfm

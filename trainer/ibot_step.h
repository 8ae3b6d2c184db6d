// One iBOT forward: the teacher sees the global crops unmasked, the student sees the global crops with
// their masked patches replaced by the mask token plus the local crops; the shared head projects the
// student's [CLS] tokens and its masked patch tokens, the teacher's [CLS] and all its patch tokens
// (all of them are needed for the patch centre).
#pragma once
#include <vector>

#include "autograd/nn/ibot_head.h"
#include "trainer/ibot_loss.h"

namespace vfm {

struct IBotCrops {
  std::vector<Tensor> global;  // n_global x [B, C, S, S]
  std::vector<Tensor> local;   // n_local x [B, C, s, s]
  std::vector<Tensor> masks;   // n_global x [B, (S/p)^2] u8
};

struct IBotForwardResult {
  IBotLossOutput loss;
  Tensor teacher_cls, teacher_patch;  // head logits, for the centre update
};

IBotForwardResult IBotForward(const nn::IBotNetwork& student, const nn::IBotNetwork& teacher, const IBotLoss& loss,
                              const IBotCrops& crops, double teacher_temp, double teacher_patch_temp,
                              Rng* drop_path_rng);

}  // namespace vfm

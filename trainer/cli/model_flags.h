// The model flags (defined in model_flags.cc), read by `vfm pretrain`, `vfm views` and `vfm import`, so that
// one recipe (--flagfile) describes the model for all of them.
#pragma once
#include <string>

#include "autograd/nn/ibot_head.h"
#include "data/augment.h"
#include "trainer/cli/flag_checks.h"

namespace vfm::cli {

// The smallest crop the augmentation's Gaussian blur kernel fits in.
inline const int kMinCropSize = data::ViewOptions().blur_kernel / 2 + 1;

struct ModelFlags {
  std::string arch;
  int patch = 0, depth = 0, heads = 0, global_size = 0;  // depth, heads 0: the architecture's own
  double drop_path = 0, layerscale = 0;
  nn::IBotHeadConfig head;
};

// Reads the model flags, each checked against its range by `checker`.
ModelFlags ReadModelFlags(FlagChecker* checker);

}  // namespace vfm::cli

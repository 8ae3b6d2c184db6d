// The model flags (ModelFlagNames below), defined by `vfm pretrain` and also read by `vfm import`, so that one
// recipe (--flagfile) describes the model for both.
#pragma once
#include <string>
#include <vector>

#include "autograd/nn/ibot_head.h"
#include "trainer/cli/flag_checks.h"

namespace vfm::cli {

struct ModelFlags {
  std::string arch;
  int patch = 0, depth = 0, heads = 0, global_size = 0;  // depth, heads 0: the architecture's own
  double drop_path = 0, layerscale = 0;
  nn::IBotHeadConfig head;
};

// Reads the model flags, each checked against its range by `checker`.
ModelFlags ReadModelFlags(FlagChecker* checker);

// The names of the flags ReadModelFlags reads.
inline std::vector<std::string> ModelFlagNames() {
  return {"arch",      "patch",      "depth",   "heads",       "global_size",    "drop_path",
          "layerscale", "out_dim", "head_hidden", "head_bottleneck", "norm_last_layer"};
}

}  // namespace vfm::cli

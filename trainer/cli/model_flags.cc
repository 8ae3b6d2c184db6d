// The model flags, read by `vfm pretrain`, `vfm views` and `vfm import`, so that one recipe (--flagfile)
// describes the model for all of them.
#include "trainer/cli/model_flags.h"

#include <algorithm>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "autograd/nn/vit.h"

ABSL_FLAG(std::string, arch, "vit_base", "vit_tiny | vit_small | vit_base | vit_large");
ABSL_FLAG(int, patch, 16, "patch size (16 or 14; smaller for tiny images)");
ABSL_FLAG(int, depth, 0, "blocks (0: the architecture's own)");
ABSL_FLAG(int, heads, 0, "attention heads (0: the architecture's own); they must divide the width");
ABSL_FLAG(double, drop_path, 0.1, "stochastic depth rate of the last block");
ABSL_FLAG(double, layerscale, 0.0, "LayerScale init (0: none)");
ABSL_FLAG(int, out_dim, 8192, "prototypes K of the iBOT head");
ABSL_FLAG(int, head_hidden, 2048, "hidden width of the head's MLP");
ABSL_FLAG(int, head_bottleneck, 256, "bottleneck width of the head");
ABSL_FLAG(bool, norm_last_layer, true, "fix the last layer's weight norm at 1");
ABSL_FLAG(int, global_size, 224, "global crop size");

namespace vfm::cli {

ModelFlags ReadModelFlags(FlagChecker* f) {
  ModelFlags m;
  m.arch = absl::GetFlag(FLAGS_arch);
  m.patch = f->Get(FLAGS_patch, 1, 256);
  m.depth = f->Get(FLAGS_depth, 0, 128);
  m.heads = f->Get(FLAGS_heads, 0, 1024);
  m.global_size = f->Get(FLAGS_global_size, kMinCropSize, 4096);
  f->Require(m.global_size % std::max(m.patch, 1) == 0,
             absl::StrCat("--global_size ", m.global_size, " is not a multiple of --patch ", m.patch));
  // The depth and heads are checked here for every reader, by the rule pretrain applies (an unknown --arch is
  // refused where it is used).
  if (auto vit = nn::ViTConfigByName(m.arch, 1, 1); vit.ok()) {
    const absl::Status s = nn::OverrideDepthAndHeads(m.depth, m.heads, &*vit);
    f->Require(s.ok(), absl::StrCat(s.message(), " of --arch ", m.arch));
  }
  m.drop_path = f->Get(FLAGS_drop_path, 0, 1);
  m.layerscale = f->Get(FLAGS_layerscale, 0, 1);
  m.head.out_dim = f->Get(FLAGS_out_dim, 1, 1 << 20);
  m.head.hidden = f->Get(FLAGS_head_hidden, 1, 1 << 16);
  m.head.bottleneck = f->Get(FLAGS_head_bottleneck, 1, 1 << 16);
  m.head.norm_last_layer = absl::GetFlag(FLAGS_norm_last_layer);
  return m;
}

}  // namespace vfm::cli

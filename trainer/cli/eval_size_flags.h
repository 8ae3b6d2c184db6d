// The evaluation resolution flags (--eval_size, --eval_resize), defined by `vfm eval` and also read by
// `vfm attn` and by `vfm pretrain`'s periodic evaluations. 0 means "as the model was trained": the training
// crop size, and torchvision's eval ratio (256/224) of the crop for the resize.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "trainer/cli/flag_checks.h"

namespace vfm::cli {

struct EvalSizeFlags {
  int size = 0, resize = 0;  // as given (0: from the training crop size)
};

// Reads both flags, each checked against its range by `checker`.
EvalSizeFlags ReadEvalSizeFlags(FlagChecker* checker);

// The centre-crop size and the resize for a model trained at `trained_size` with patches of `patch` pixels
// (the crop must hold whole patches; `patch_name` says where the patch size comes from); the error names the
// flags.
absl::StatusOr<std::pair<int, int>> ResolveEvalSize(const EvalSizeFlags& flags, int64_t trained_size, int64_t patch,
                                                    const std::string& patch_name);

}  // namespace vfm::cli

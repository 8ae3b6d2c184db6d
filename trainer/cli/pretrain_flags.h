// The flags of a pretraining run, defined by `vfm pretrain` and also read by `vfm views`, so that one
// recipe (--flagfile) describes the run for both.
#pragma once
#include "absl/status/status.h"
#include "trainer/pretrain.h"

namespace vfm::cli {

// Every flag of the run into `options`, each checked against its range where it is read; the error names
// the first flag at fault.
absl::Status ReadPretrainFlags(PretrainOptions* options);

}  // namespace vfm::cli

// --comm_timeout_s for the distributed test programs (vfm itself defines its flags in trainer/cli): the
// tests run with a shorter time-out than training's 300 s, and dead_rank_test.sh with a few seconds.
#pragma once
#include "distributed/communicator.h"

namespace vfm::dist {

CommOptions TestCommOptions();

}  // namespace vfm::dist

// The command-line flags of data-parallel training, shared by every binary that links vfm_distributed:
// --comm_timeout_s, --bucket_mb, --zero1.
#pragma once
#include "absl/flags/declare.h"
#include "distributed/communicator.h"
#include "distributed/reducer.h"

ABSL_DECLARE_FLAG(double, comm_timeout_s);
ABSL_DECLARE_FLAG(double, bucket_mb);
ABSL_DECLARE_FLAG(bool, zero1);

namespace vfm::dist {

absl::StatusOr<CommOptions> CommOptionsFromFlags();
absl::StatusOr<int64_t> BucketBytesFromFlags();  // the gradient buckets' size (autograd/grad_buckets.h)
ReducerOptions ReducerOptionsFromFlags();

}  // namespace vfm::dist

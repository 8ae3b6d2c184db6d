#include "distributed/flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(double, comm_timeout_s, 300,
          "seconds a collective may take before the job ends with an error naming the rank and the collective "
          "(a rank died or hangs)");
ABSL_FLAG(double, bucket_mb, 25, "size of a gradient all-reduce bucket in MiB");
ABSL_FLAG(bool, zero1, false, "shard the AdamW state across ranks (ZeRO stage 1)");

namespace vfm::dist {

absl::StatusOr<CommOptions> CommOptionsFromFlags() {
  const double timeout = absl::GetFlag(FLAGS_comm_timeout_s);
  if (!(timeout > 0))
    return absl::InvalidArgumentError(absl::StrCat("--comm_timeout_s must be positive, got ", timeout));
  return CommOptions{timeout};
}

absl::StatusOr<int64_t> BucketBytesFromFlags() {
  const double mb = absl::GetFlag(FLAGS_bucket_mb);
  if (!(mb > 0)) return absl::InvalidArgumentError(absl::StrCat("--bucket_mb must be positive, got ", mb));
  return int64_t(mb * (1 << 20));
}

ReducerOptions ReducerOptionsFromFlags() { return ReducerOptions{absl::GetFlag(FLAGS_zero1), true}; }

}  // namespace vfm::dist

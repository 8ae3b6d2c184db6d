#include "tests/distributed/comm_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(double, comm_timeout_s, 300, "seconds a collective may take before it fails naming the rank");

namespace vfm::dist {

CommOptions TestCommOptions() { return CommOptions{absl::GetFlag(FLAGS_comm_timeout_s)}; }

}  // namespace vfm::dist

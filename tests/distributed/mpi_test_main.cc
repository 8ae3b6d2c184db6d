// GoogleTest's main for the distributed tests, which run under `mpirun -np N` or alone: MPI is set up
// before the tests and ended after them; the remaining arguments are flags (--comm_timeout_s: comm_flags.h).
#include <gtest/gtest.h>

#include "absl/flags/parse.h"
#include "distributed/bootstrap.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<vfm::dist::ProcessInfo> process = vfm::dist::InitProcess(&argc, &argv);
  if (!process.ok()) vfm::dist::AbortProcess(process.status());
  const int failed = RUN_ALL_TESTS();
  vfm::dist::FinalizeProcess();
  return failed;
}

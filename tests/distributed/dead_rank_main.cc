// A job in which rank 1 fails mid-run, for dead_rank_test.sh: every rank all-reduces a buffer once per
// step; at step 3 rank 1 is killed (--mode=kill: SIGKILL, as by the OOM killer) or stops answering
// (--mode=hang: it sleeps, as a deadlocked rank would). The others must end with a non-zero status and
// a message naming the rank and the collective, not wait forever.
#include <csignal>
#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "tests/distributed/comm_flags.h"

ABSL_FLAG(std::string, mode, "kill", "how rank 1 fails: kill | hang");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace vfm::dist;
  absl::StatusOr<ProcessInfo> process = InitProcess(&argc, &argv);
  if (!process.ok()) AbortProcess(process.status());
  absl::StatusOr<std::unique_ptr<Communicator>> comm = CreateCommunicator(*process, vfm::Device::CPU(), TestCommOptions());
  if (!comm.ok()) AbortProcess(comm.status());
  vfm::Tensor buffer = vfm::Tensor::Full({1 << 16}, 1.0);
  for (int step = 0; step < 10; ++step) {
    if (step == 3 && process->rank == 1) {
      std::fprintf(stderr, "rank 1: failing (%s) at step %d\n", absl::GetFlag(FLAGS_mode).c_str(), step);
      if (absl::GetFlag(FLAGS_mode) == "kill") std::raise(SIGKILL);
      std::this_thread::sleep_for(std::chrono::hours(1));
    }
    if (absl::Status s = (*comm)->AllReduce(buffer, ReduceOp::kAvg)->Wait(); !s.ok()) AbortProcess(s);
    std::printf("rank %d: step %d done\n", process->rank, step);
    std::fflush(stdout);
  }
  comm->reset();
  FinalizeProcess();
  return 0;
}

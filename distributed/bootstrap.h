// Who this process is in the job. Under a launcher (mpirun, srun: their variables are set) MPI is
// initialised and gives the rank, the world size and the local rank (the rank among this host's
// processes, which picks the GPU). Outside a launcher the process runs alone and MPI is never touched:
// Open MPI's singleton initialisation would start an orted daemon.
#pragma once
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vfm::dist {

struct ProcessInfo {
  int rank = 0, world = 1;
  int local_rank = 0, local_world = 1;  // among the ranks on this host
  bool mpi = false;                     // started by a launcher: MPI is initialised
};

// Once per process, before any communicator; argc and argv may be null.
absl::StatusOr<ProcessInfo> InitProcess(int* argc, char*** argv);
// What InitProcess found (a lone process before it).
const ProcessInfo& Process();
// Ends MPI once every communicator is gone; nothing to do for a lone process.
void FinalizeProcess();
// Prints "vfm rank R/W: <status>" on stderr and ends the job with a non-zero status: MPI_Abort under a
// launcher (which takes the other ranks down too), exit(1) alone.
[[noreturn]] void AbortProcess(const absl::Status& status);

// Copies rank 0's `bytes` at `data` to every rank (over MPI_COMM_WORLD; nothing to do alone), failing past
// `timeout_s` with an error naming this rank: how ranks on other hosts learn the NCCL id before NCCL
// itself can connect them (a host cut off at start-up must not hang the job).
absl::Status BroadcastFromRankZero(void* data, int bytes, double timeout_s, absl::string_view what);

// This host's name as MPI reports it (MPI_Get_processor_name), for errors naming a rank's host.
std::string HostName();

// An MPI return code as a Status naming this rank and what failed (OK for MPI_SUCCESS).
absl::Status MpiStatus(int code, absl::string_view what);

}  // namespace vfm::dist

#include "distributed/bootstrap.h"

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vfm::dist {

namespace {
ProcessInfo process;

// Open MPI's mpirun sets OMPI_*, PMIx launchers (srun --mpi=pmix, prterun) PMIX_RANK, PMI-1/2 launchers
// (srun --mpi=pmi2, MPICH's hydra) PMI_RANK; srun always sets SLURM_STEP_NUM_TASKS for its tasks (the
// batch script itself is no step).
bool UnderLauncher() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "SLURM_STEP_NUM_TASKS"})
    if (std::getenv(var) != nullptr) return true;
  return false;
}
}  // namespace

absl::Status MpiStatus(int code, absl::string_view what) {
  if (code == MPI_SUCCESS) return absl::OkStatus();
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = std::snprintf(text, sizeof(text), "code %d", code);
  return absl::InternalError(absl::StrCat("rank ", process.rank, " of ", process.world, ": ", what,
                                          " failed: ", absl::string_view(text, size_t(len))));
}

absl::StatusOr<ProcessInfo> InitProcess(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return absl::FailedPreconditionError("InitProcess called twice");
  if (!UnderLauncher()) return process = ProcessInfo{};

  // Every MPI call after start-up comes from one thread at a time (the communicator's worker).
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
    return absl::InternalError("MPI_Init_thread failed (is this a matching mpirun/srun?)");
  if (provided < MPI_THREAD_SERIALIZED)
    return absl::FailedPreconditionError(
        absl::StrCat("MPI gives thread level ", provided, ", vfm needs MPI_THREAD_SERIALIZED"));
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  process.mpi = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &process.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &process.world);
  MPI_Comm host;
  if (absl::Status s =
          MpiStatus(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, process.rank, MPI_INFO_NULL, &host),
                    "splitting the ranks by host");
      !s.ok())
    return s;
  MPI_Comm_rank(host, &process.local_rank);
  MPI_Comm_size(host, &process.local_world);
  MPI_Comm_free(&host);
  return process;
}

absl::Status BroadcastFromRankZero(void* data, int bytes, double timeout_s, absl::string_view what) {
  if (!process.mpi) return absl::OkStatus();
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  MPI_Request request;
  if (absl::Status s = MpiStatus(MPI_Ibcast(data, bytes, MPI_BYTE, 0, MPI_COMM_WORLD, &request), what); !s.ok())
    return s;
  for (int complete = 0; !complete;) {
    if (absl::Status s = MpiStatus(MPI_Test(&request, &complete, MPI_STATUS_IGNORE), what); !s.ok()) return s;
    if (!complete && Clock::now() > deadline)
      return absl::DeadlineExceededError(absl::StrFormat(
          "rank %d of %d on %s: %s did not complete within %g s (--comm_timeout_s): a host is unreachable or a "
          "rank did not start",
          process.rank, process.world, HostName(), what, timeout_s));
  }
  return absl::OkStatus();
}

std::string HostName() {
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  if (!process.mpi || MPI_Get_processor_name(name, &len) != MPI_SUCCESS) return "this host";
  return std::string(name, size_t(len));
}

const ProcessInfo& Process() { return process; }

void FinalizeProcess() {
  if (process.mpi) MPI_Finalize();
  process.mpi = false;
}

void AbortProcess(const absl::Status& status) {
  std::fprintf(stderr, "vfm rank %d/%d: %s\n", process.rank, process.world, status.ToString().c_str());
  std::fflush(stderr);
  if (process.mpi) MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);
}

}  // namespace vfm::dist

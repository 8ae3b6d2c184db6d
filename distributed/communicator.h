// Collectives across the ranks of a job. Every collective is asynchronous: it is queued in call order
// (which must be the same on every rank) on the communicator's own worker (MPI: a thread; NCCL: a CUDA
// stream) and returns a Work to wait on; its buffers must stay alive and untouched until then.
// Backends: MPI on CPU tensors (mpi_communicator.h), NCCL on GPU tensors (nccl_communicator.h), and a
// lone process's identity (below).
#pragma once
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "autograd/tensor.h"
#include "distributed/bootstrap.h"

namespace vfm::dist {

enum class ReduceOp { kSum, kAvg };

struct CommOptions {
  // A collective not complete this long after it started fails with an error naming the rank and the
  // collective: a peer has died or hangs (MPI backend; NCCL checks at its host synchronisation points).
  double timeout_s = 300;
};

// A collective in flight.
class Work {
 public:
  virtual ~Work() = default;
  // MPI: blocks until the collective is complete. NCCL: orders the compute stream after it (no host sync).
  // An error here (a failed or timed-out collective) leaves the communicator unusable: end the job.
  virtual absl::Status Wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  int rank() const { return rank_; }
  int world() const { return world_; }

  // Reductions take contiguous f32 or f64 tensors; the others any dtype.
  virtual std::unique_ptr<Work> AllReduce(const Tensor& t, ReduceOp op) = 0;  // in place
  // in: world * n elements; out: n, this rank's block of the reduction. out may be in's block of this
  // rank (in place: the rest of in is then undefined).
  virtual std::unique_ptr<Work> ReduceScatter(const Tensor& in, const Tensor& out, ReduceOp op) = 0;
  // in: n elements; out: world * n, rank r's in at block r. in may be out's block of this rank (in place).
  virtual std::unique_ptr<Work> AllGather(const Tensor& in, const Tensor& out) = 0;
  virtual std::unique_ptr<Work> Broadcast(const Tensor& t, int root) = 0;  // in place
  // Returns once every rank has reached it (or the time-out has passed).
  virtual absl::Status Barrier() = 0;

 protected:
  Communicator(int rank, int world) : rank_(rank), world_(world) {}

 private:
  int rank_, world_;
};

// The communicator for tensors on `device` among every rank of the job: one rank without MPI gets the
// identity, CPU the MPI backend, CUDA the NCCL backend (when built with it).
absl::StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(const ProcessInfo& process, Device device,
                                                                 const CommOptions& options = {});

// Argument checks shared by the backends (programming errors: they throw vfm::Error).
void CheckReduceArgs(const Tensor& t, const char* what);
void CheckBlockArgs(const Tensor& block, const Tensor& whole, int world, const char* what);
// Whether `block` is block r of `whole` (the same memory): an in-place reduce-scatter or all-gather.
bool IsBlockOf(const Tensor& block, const Tensor& whole, int r);

}  // namespace vfm::dist

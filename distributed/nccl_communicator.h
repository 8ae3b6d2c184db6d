// The NCCL backend, for GPU tensors (built only with CUDA). One GPU per rank, chosen by local rank; rank
// 0's NCCL unique id reaches the others over MPI. Collectives run in call order on the communicator's own
// CUDA stream: each first waits, on the device, for what the compute stream has queued so far, and
// Work::Wait makes the compute stream wait for the collective, so the host never blocks in a step.
// Reduce-scatter into, and all-gather from, this rank's block of the whole buffer run in place (NCCL's
// own in-place forms). The time-out applies where the host does wait (Barrier): past it the communicator
// is aborted (ncclCommAbort) and the error names the rank.
#pragma once
#include <cuda_runtime.h>
#include <nccl.h>

#include <functional>

#include "distributed/communicator.h"

namespace vfm::dist {

class NcclCommunicator : public Communicator {
 public:
  // compute_stream: the stream that produces and consumes the tensors (null: vfm's compute stream of
  // this rank's GPU, kernels/cuda/runtime.h).
  // Collective over MPI_COMM_WORLD (the id broadcast): call it on every rank, before any MPI communicator
  // has work in flight.
  static absl::StatusOr<std::unique_ptr<Communicator>> Create(const ProcessInfo& process, const CommOptions& options,
                                                              cudaStream_t compute_stream = nullptr);
  ~NcclCommunicator() override;

  std::unique_ptr<Work> AllReduce(const Tensor& t, ReduceOp op) override;
  std::unique_ptr<Work> ReduceScatter(const Tensor& in, const Tensor& out, ReduceOp op) override;
  std::unique_ptr<Work> AllGather(const Tensor& in, const Tensor& out) override;
  std::unique_ptr<Work> Broadcast(const Tensor& t, int root) override;
  absl::Status Barrier() override;

 private:
  NcclCommunicator(int rank, int world, ncclComm_t comm, cudaStream_t compute, cudaStream_t stream, cudaEvent_t ready,
                   float* scratch, const CommOptions& options);
  // Orders the collective `call` (enqueued on stream_) after the compute stream's work so far.
  std::unique_ptr<Work> Launch(const char* what, const std::function<ncclResult_t()>& call);

  ncclComm_t comm_;
  cudaStream_t compute_, stream_;
  cudaEvent_t ready_;
  float* scratch_;  // one float on the device, for Barrier
  CommOptions options_;
  bool aborted_ = false;
};

}  // namespace vfm::dist

#include "distributed/nccl_communicator.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/runtime.h"

namespace vfm::dist {

namespace {

absl::Status CudaStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  const ProcessInfo& p = Process();
  return absl::InternalError(
      absl::StrCat("rank ", p.rank, " of ", p.world, ": ", what, " failed: ", cudaGetErrorString(e)));
}

absl::Status NcclStatus(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return absl::OkStatus();
  const ProcessInfo& p = Process();
  return absl::InternalError(absl::StrCat("rank ", p.rank, " of ", p.world, ": NCCL ", what,
                                          " failed: ", ncclGetErrorString(r), " (", ncclGetLastError(nullptr), ")"));
}

ncclDataType_t NcclType(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return ncclFloat32;
    case DType::kF64:
      return ncclFloat64;
    case DType::kBF16:
      return ncclBfloat16;
    case DType::kI32:
      return ncclInt32;
    case DType::kI64:
      return ncclInt64;
    case DType::kU8:
      return ncclUint8;
  }
  return ncclUint8;
}

void CheckOnGpu(const Tensor& t, const char* what) {
  VFM_CHECK(!t.device().is_cpu() && t.is_contiguous())
      << what << ": the NCCL backend needs contiguous GPU tensors, got " << t.device().ToString();
}

class FailedWork : public Work {
 public:
  explicit FailedWork(absl::Status s) : status_(std::move(s)) {}
  absl::Status Wait() override { return status_; }

 private:
  absl::Status status_;
};

class NcclWork : public Work {
 public:
  NcclWork(ncclComm_t comm, cudaStream_t compute, cudaEvent_t done) : comm_(comm), compute_(compute), done_(done) {}
  ~NcclWork() override { cudaEventDestroy(done_); }  // released once the event has completed
  absl::Status Wait() override {
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm_, &async);
    if (absl::Status s = NcclStatus(async, "collective"); !s.ok()) return s;
    return CudaStatus(cudaStreamWaitEvent(compute_, done_, 0), "ordering the compute stream after a collective");
  }

 private:
  ncclComm_t comm_;
  cudaStream_t compute_;
  cudaEvent_t done_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Communicator>> NcclCommunicator::Create(const ProcessInfo& process,
                                                                       const CommOptions& options,
                                                                       cudaStream_t compute_stream) {
  int gpus = 0;
  if (absl::Status s = CudaStatus(cudaGetDeviceCount(&gpus), "counting GPUs"); !s.ok()) return s;
  // One GPU per rank: by local rank when the process sees them all, the only one when the launcher has
  // already given each rank its own (srun --gpus-per-task, CUDA_VISIBLE_DEVICES).
  if (gpus != 1 && gpus < process.local_world)
    return absl::FailedPreconditionError(absl::StrCat("rank ", process.rank, ": ", process.local_world,
                                                      " ranks on this host but ", gpus, " GPUs (one GPU per rank)"));
  const int device = gpus == 1 ? 0 : process.local_rank;
  if (absl::Status s = CudaStatus(cudaSetDevice(device), "selecting the GPU of this rank"); !s.ok()) return s;
  // Collectives are ordered after (and before) the kernels of the training step, which run on vfm's
  // compute stream: not the legacy default stream, with which that non-blocking stream does not sync.
  if (compute_stream == nullptr) compute_stream = static_cast<cudaStream_t>(cuda::ComputeStream());

  ncclUniqueId id;
  if (process.rank == 0)
    if (absl::Status s = NcclStatus(ncclGetUniqueId(&id), "ncclGetUniqueId"); !s.ok()) return s;
  // Over MPI, which reaches every host already: NCCL's own sockets connect the ranks only with the id.
  if (absl::Status s = BroadcastFromRankZero(&id, sizeof(id), options.timeout_s, "broadcasting the NCCL id"); !s.ok())
    return s;
  ncclComm_t comm;
  if (absl::Status s = NcclStatus(ncclCommInitRank(&comm, process.world, id, process.rank), "ncclCommInitRank");
      !s.ok())
    return s;

  cudaStream_t stream;
  cudaEvent_t ready;
  float* scratch;
  if (absl::Status s =
          CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "creating the NCCL stream");
      !s.ok())
    return s;
  if (absl::Status s = CudaStatus(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "creating an event");
      !s.ok())
    return s;
  if (absl::Status s = CudaStatus(cudaMalloc(&scratch, sizeof(float)), "allocating the barrier buffer"); !s.ok())
    return s;
  return std::unique_ptr<Communicator>(
      new NcclCommunicator(process.rank, process.world, comm, compute_stream, stream, ready, scratch, options));
}

NcclCommunicator::NcclCommunicator(int rank, int world, ncclComm_t comm, cudaStream_t compute, cudaStream_t stream,
                                   cudaEvent_t ready, float* scratch, const CommOptions& options)
    : Communicator(rank, world),
      comm_(comm),
      compute_(compute),
      stream_(stream),
      ready_(ready),
      scratch_(scratch),
      options_(options) {}

NcclCommunicator::~NcclCommunicator() {
  if (!aborted_) {
    cudaStreamSynchronize(stream_);
    ncclCommDestroy(comm_);
  }
  cudaFree(scratch_);
  cudaEventDestroy(ready_);
  cudaStreamDestroy(stream_);
}

std::unique_ptr<Work> NcclCommunicator::Launch(const char* what, const std::function<ncclResult_t()>& call) {
  if (aborted_)
    return std::make_unique<FailedWork>(
        absl::FailedPreconditionError(absl::StrCat("rank ", rank(), ": ", what, " on an aborted NCCL communicator")));
  if (absl::Status s = CudaStatus(cudaEventRecord(ready_, compute_), what); !s.ok())
    return std::make_unique<FailedWork>(s);
  if (absl::Status s = CudaStatus(cudaStreamWaitEvent(stream_, ready_, 0), what); !s.ok())
    return std::make_unique<FailedWork>(s);
  if (absl::Status s = NcclStatus(call(), what); !s.ok()) return std::make_unique<FailedWork>(s);
  cudaEvent_t done;
  if (absl::Status s = CudaStatus(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), what); !s.ok())
    return std::make_unique<FailedWork>(s);
  if (absl::Status s = CudaStatus(cudaEventRecord(done, stream_), what); !s.ok()) {
    cudaEventDestroy(done);
    return std::make_unique<FailedWork>(s);
  }
  return std::make_unique<NcclWork>(comm_, compute_, done);
}

std::unique_ptr<Work> NcclCommunicator::AllReduce(const Tensor& t, ReduceOp op) {
  CheckReduceArgs(t, "all_reduce");
  CheckOnGpu(t, "all_reduce");
  return Launch("all_reduce", [&] {
    return ncclAllReduce(t.raw_data(), t.raw_data(), size_t(t.numel()), NcclType(t.dtype()),
                         op == ReduceOp::kAvg ? ncclAvg : ncclSum, comm_, stream_);
  });
}

std::unique_ptr<Work> NcclCommunicator::ReduceScatter(const Tensor& in, const Tensor& out, ReduceOp op) {
  CheckReduceArgs(in, "reduce_scatter");
  CheckBlockArgs(out, in, world(), "reduce_scatter");
  CheckOnGpu(in, "reduce_scatter");
  return Launch("reduce_scatter", [&] {
    return ncclReduceScatter(in.raw_data(), out.raw_data(), size_t(out.numel()), NcclType(in.dtype()),
                             op == ReduceOp::kAvg ? ncclAvg : ncclSum, comm_, stream_);
  });
}

std::unique_ptr<Work> NcclCommunicator::AllGather(const Tensor& in, const Tensor& out) {
  CheckBlockArgs(in, out, world(), "all_gather");
  CheckOnGpu(in, "all_gather");
  return Launch("all_gather",
                [&] { return ncclAllGather(in.raw_data(), out.raw_data(), in.nbytes(), ncclUint8, comm_, stream_); });
}

std::unique_ptr<Work> NcclCommunicator::Broadcast(const Tensor& t, int root) {
  VFM_CHECK(root >= 0 && root < world()) << "broadcast from rank " << root << " of " << world();
  CheckOnGpu(t, "broadcast");
  return Launch("broadcast",
                [&] { return ncclBroadcast(t.raw_data(), t.raw_data(), t.nbytes(), ncclUint8, root, comm_, stream_); });
}

absl::Status NcclCommunicator::Barrier() {
  std::unique_ptr<Work> work =
      Launch("barrier", [&] { return ncclAllReduce(scratch_, scratch_, 1, ncclFloat32, ncclSum, comm_, stream_); });
  if (absl::Status s = work->Wait(); !s.ok()) return s;
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.timeout_s));
  for (;;) {
    const cudaError_t e = cudaStreamQuery(stream_);
    if (e == cudaSuccess) return absl::OkStatus();
    if (e != cudaErrorNotReady) return CudaStatus(e, "barrier");
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm_, &async);
    if (async != ncclSuccess || Clock::now() > deadline) {
      ncclCommAbort(comm_);
      aborted_ = true;
      if (async != ncclSuccess) return NcclStatus(async, "barrier");
      return absl::DeadlineExceededError(absl::StrCat("rank ", rank(), " of ", world(),
                                                      ": NCCL barrier did not complete within ", options_.timeout_s,
                                                      " s (--comm_timeout_s): another rank has died or hangs"));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

}  // namespace vfm::dist

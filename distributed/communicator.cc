#include "distributed/communicator.h"

#include <cstring>

#include "distributed/mpi_communicator.h"
#ifdef VFM_WITH_NCCL
#include "distributed/nccl_communicator.h"
#endif

namespace vfm::dist {

namespace {

class DoneWork : public Work {
 public:
  absl::Status Wait() override { return absl::OkStatus(); }
};

// A lone process: a reduction over one rank is the identity, scatter and gather are copies.
class LocalCommunicator : public Communicator {
 public:
  LocalCommunicator() : Communicator(0, 1) {}
  std::unique_ptr<Work> AllReduce(const Tensor& t, ReduceOp) override {
    CheckReduceArgs(t, "all_reduce");
    return std::make_unique<DoneWork>();
  }
  std::unique_ptr<Work> ReduceScatter(const Tensor& in, const Tensor& out, ReduceOp) override {
    CheckReduceArgs(in, "reduce_scatter");
    CheckBlockArgs(out, in, 1, "reduce_scatter");
    std::memmove(out.raw_data(), in.raw_data(), out.nbytes());  // nothing to move when in place
    return std::make_unique<DoneWork>();
  }
  std::unique_ptr<Work> AllGather(const Tensor& in, const Tensor& out) override {
    CheckBlockArgs(in, out, 1, "all_gather");
    std::memmove(out.raw_data(), in.raw_data(), in.nbytes());
    return std::make_unique<DoneWork>();
  }
  std::unique_ptr<Work> Broadcast(const Tensor& t, int root) override {
    VFM_CHECK(root == 0) << "broadcast from rank " << root << " in a world of 1";
    return std::make_unique<DoneWork>();
  }
  absl::Status Barrier() override { return absl::OkStatus(); }
};

}  // namespace

void CheckReduceArgs(const Tensor& t, const char* what) {
  VFM_CHECK(t.defined() && t.is_contiguous() && (t.dtype() == DType::kF32 || t.dtype() == DType::kF64))
      << what << ": needs a contiguous f32 or f64 tensor";
}

void CheckBlockArgs(const Tensor& block, const Tensor& whole, int world, const char* what) {
  VFM_CHECK(block.is_contiguous() && whole.is_contiguous() && block.dtype() == whole.dtype() &&
            block.device() == whole.device() && whole.numel() == block.numel() * world)
      << what << ": the whole tensor must hold world (" << world << ") blocks of " << block.numel()
      << " elements of the same dtype, got " << whole.numel();
}

bool IsBlockOf(const Tensor& block, const Tensor& whole, int r) {
  return block.storage() == whole.storage() && block.offset() == whole.offset() + r * block.numel();
}

absl::StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(const ProcessInfo& process, Device device,
                                                                 const CommOptions& options) {
  if (!device.is_cpu()) {
#ifdef VFM_WITH_NCCL
    return NcclCommunicator::Create(process, options);
#else
    return absl::UnimplementedError("this vfm was built without CUDA: no NCCL communicator");
#endif
  }
  if (!process.mpi) return std::make_unique<LocalCommunicator>();
  return MpiCommunicator::Create(options);
}

}  // namespace vfm::dist

#include "distributed/reducer.h"

#include <chrono>

namespace vfm::dist {

absl::Status BroadcastParameters(const nn::NamedTensors& params, Communicator& comm) {
  std::vector<std::unique_ptr<Work>> works;
  for (const auto& [name, p] : params) works.push_back(comm.Broadcast(p, 0));
  absl::Status status;
  for (auto& w : works)
    if (absl::Status s = w->Wait(); status.ok()) status = s;
  return status;
}

GradientReducer::GradientReducer(const GradBuckets& grads, Communicator& comm, const ReducerOptions& options)
    : grads_(grads),
      comm_(comm),
      options_(options),
      ready_(grads.slots().size()),
      pending_(grads.buckets().size()),
      work_(grads.buckets().size()),
      self_(std::make_shared<GradientReducer*>(this)) {
  VFM_CHECK(!options.zero1 || grads.blocks() == comm.world())
      << "ZeRO-1 needs gradient buckets of one block per rank: " << grads.blocks() << " blocks, "
      << comm.world() << " ranks";
  ExpectEveryGradient();
  for (size_t s = 0; s < grads.slots().size(); ++s) {
    std::weak_ptr<GradientReducer*> weak = self_;
    Tensor param = grads.slots()[s].param;
    param.AddGradReadyHook([weak, s](const Tensor& grad) {
      if (auto self = weak.lock()) (*self)->OnGradReady(s, grad);
    });
  }
}

void GradientReducer::ExpectEveryGradient() {
  for (size_t b = 0; b < pending_.size(); ++b) {
    const GradBuckets::Bucket& bucket = grads_.buckets()[b];
    pending_[b] = int(bucket.end_slot - bucket.first_slot);
  }
}

void GradientReducer::OnGradReady(size_t s, const Tensor& grad) {
  const GradBuckets::Slot& slot = grads_.slots()[s];
  VFM_CHECK(!ready_[s]) << "gradient of " << slot.name
                        << " completed twice before Finish(): one backward per step with data parallel";
  const Tensor home = slot.param.grad_home();
  VFM_CHECK(home.defined() && grad.storage() == home.storage() && grad.offset() == home.offset())
      << "gradient of " << slot.name << " is not in its bucket (was its gradient home replaced?)";
  ready_[s] = true;
  if (--pending_[slot.bucket] == 0 && options_.overlap) StartReadyBuckets(/*in_backward=*/true);
}

void GradientReducer::StartReadyBuckets(bool in_backward) {
  for (; next_ < work_.size() && pending_[next_] == 0; ++next_) {
    const Tensor& flat = grads_.buckets()[next_].flat;
    work_[next_] = options_.zero1 ? comm_.ReduceScatter(flat, grads_.Block(next_, comm_.rank()), ReduceOp::kAvg)
                                  : comm_.AllReduce(flat, ReduceOp::kAvg);
    current_.started_in_backward += in_backward;
  }
}

absl::Status GradientReducer::Finish() {
  const std::vector<GradBuckets::Slot>& slots = grads_.slots();
  // Which parameters got a gradient on any rank: flags set on the host, summed where the buckets live.
  Tensor present_here = Tensor::Zeros({int64_t(slots.size())});
  for (size_t s = 0; s < slots.size(); ++s) {
    if (ready_[s]) {
      present_here.data<float>()[s] = 1;
    } else {
      Tensor home = slots[s].param.grad_home();
      home.Fill(0.0);
    }
  }
  for (int& pending : pending_) pending = 0;
  StartReadyBuckets(/*in_backward=*/false);
  const Tensor present = present_here.ToDevice(grads_.device());
  std::unique_ptr<Work> present_work = comm_.AllReduce(present, ReduceOp::kSum);  // after the buckets, on every rank

  const auto start = std::chrono::steady_clock::now();
  absl::Status status;
  for (std::unique_ptr<Work>& work : work_) {
    absl::Status s = work->Wait();
    if (status.ok()) status = s;
    work.reset();
  }
  if (absl::Status s = present_work->Wait(); status.ok()) status = s;
  // NCCL's Wait only orders the compute stream; the host reads the flags below, and a dead peer would
  // block that read forever. The barrier waits on the host with the communicator's time-out (and aborts
  // NCCL when it expires), so a dead rank ends the job with an error instead.
  if (status.ok() && !present.device().is_cpu()) status = comm_.Barrier();
  current_.finish_wait_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  current_.buckets = int(work_.size());
  stats_ = current_;
  current_ = StepStats{};

  const std::vector<float> present_anywhere = present.ToVector();
  next_ = 0;
  ExpectEveryGradient();
  for (size_t s = 0; s < slots.size(); ++s) {
    ready_[s] = false;
    Tensor param = slots[s].param;
    if (present_anywhere[s] > 0) {
      param.set_grad(param.grad_home());
    } else {
      param.ZeroGrad();
    }
  }
  return status;
}

}  // namespace vfm::dist

#include "distributed/reducer.h"

#include <chrono>

namespace vfm::dist {

Tensor SlotView(const Tensor& flat, const GradientReducer::Slot& slot) {
  const Shape& shape = slot.param.shape();
  return flat.View(shape, ContiguousStrides(shape), flat.offset() + slot.offset);
}

absl::Status BroadcastParameters(const nn::NamedTensors& params, Communicator& comm) {
  std::vector<std::unique_ptr<Work>> works;
  for (const auto& [name, p] : params) works.push_back(comm.Broadcast(p, 0));
  absl::Status status;
  for (auto& w : works)
    if (absl::Status s = w->Wait(); status.ok()) status = s;
  return status;
}

GradientReducer::GradientReducer(const nn::NamedTensors& params, Communicator& comm, const ReducerOptions& options)
    : comm_(comm), options_(options), self_(std::make_shared<GradientReducer*>(this)) {
  VFM_CHECK(options.bucket_bytes > 0) << "bucket size must be positive, got " << options.bucket_bytes;
  // Fill each bucket up to the size limit (a parameter larger than the limit gets a bucket of its own).
  std::vector<int64_t> used;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const auto& [name, p] = *it;
    if (!p.requires_grad()) continue;
    VFM_CHECK(p.dtype() == DType::kF32 && p.is_contiguous())
        << "gradient reducer: parameter " << name << " must be contiguous f32";
    if (buckets_.empty() || (used.back() > 0 && (used.back() + p.numel()) * 4 > options.bucket_bytes)) {
      buckets_.emplace_back();
      used.push_back(0);
    }
    buckets_.back().slots.push_back(Slot{name, p, used.back()});
    used.back() += p.numel();
  }
  const int world = comm.world();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    const int64_t block = (used[b] + world - 1) / world;
    bucket.flat = Tensor::Zeros({block * world}, DType::kF32, bucket.slots[0].param.device());
    bucket.pending = int(bucket.slots.size());
    if (options.zero1) {
      bucket.shard = Tensor::Zeros({block}, DType::kF32, bucket.flat.device());
      bucket.shard_begin = comm.rank() * block;
    }
    for (size_t s = 0; s < bucket.slots.size(); ++s) {
      std::weak_ptr<GradientReducer*> weak = self_;
      bucket.slots[s].param.AddGradReadyHook([weak, b, s](const Tensor& grad) {
        if (auto self = weak.lock()) (*self)->OnGradReady(b, s, grad);
      });
    }
  }
}

void GradientReducer::OnGradReady(size_t b, size_t s, const Tensor& grad) {
  Bucket& bucket = buckets_[b];
  Slot& slot = bucket.slots[s];
  VFM_CHECK(!slot.ready) << "gradient of " << slot.name
                         << " completed twice before Finish(): one backward per step with data parallel";
  SlotView(bucket.flat, slot).CopyFrom(grad);
  slot.ready = true;
  if (--bucket.pending == 0 && options_.overlap) StartReadyBuckets(/*in_backward=*/true);
}

void GradientReducer::StartReadyBuckets(bool in_backward) {
  for (; next_ < buckets_.size() && buckets_[next_].pending == 0; ++next_) {
    Bucket& bucket = buckets_[next_];
    bucket.work = options_.zero1 ? comm_.ReduceScatter(bucket.flat, bucket.shard, ReduceOp::kAvg)
                                 : comm_.AllReduce(bucket.flat, ReduceOp::kAvg);
    current_.started_in_backward += in_backward;
  }
}

absl::Status GradientReducer::Finish() {
  int64_t slots = 0;
  for (const Bucket& bucket : buckets_) slots += int64_t(bucket.slots.size());
  // Which parameters got a gradient on any rank: flags set on the host, summed where the buckets live.
  Tensor present_here = Tensor::Zeros({slots});
  int64_t i = 0;
  for (Bucket& bucket : buckets_) {
    for (Slot& slot : bucket.slots) {
      if (slot.ready) {
        present_here.data<float>()[i] = 1;
      } else {
        SlotView(bucket.flat, slot).Fill(0.0);
      }
      ++i;
    }
    bucket.pending = 0;
  }
  StartReadyBuckets(/*in_backward=*/false);
  const Tensor present = present_here.ToDevice(buckets_.empty() ? Device::CPU() : buckets_[0].flat.device());
  std::unique_ptr<Work> present_work = comm_.AllReduce(present, ReduceOp::kSum);  // after the buckets, on every rank

  const auto start = std::chrono::steady_clock::now();
  absl::Status status;
  for (Bucket& bucket : buckets_) {
    absl::Status s = bucket.work->Wait();
    if (status.ok()) status = s;
    bucket.work.reset();
  }
  if (absl::Status s = present_work->Wait(); status.ok()) status = s;
  // NCCL's Wait only orders the compute stream; the host reads the flags below, and a dead peer would
  // block that read forever. The barrier waits on the host with the communicator's time-out (and aborts
  // NCCL when it expires), so a dead rank ends the job with an error instead.
  if (status.ok() && !present.device().is_cpu()) status = comm_.Barrier();
  current_.finish_wait_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  current_.buckets = int(buckets_.size());
  stats_ = current_;
  current_ = StepStats{};

  const std::vector<float> present_anywhere = present.ToVector();
  next_ = 0;
  i = 0;
  for (Bucket& bucket : buckets_) {
    bucket.pending = int(bucket.slots.size());
    for (Slot& slot : bucket.slots) {
      slot.ready = false;
      slot.has_grad = present_anywhere[size_t(i++)] > 0;
      // ZeRO-1: only the shards hold averaged gradients; drop the local ones rather than leave them looking valid.
      if (options_.zero1 || !slot.has_grad) {
        slot.param.ZeroGrad();
      } else {
        slot.param.set_grad(SlotView(bucket.flat, slot));
      }
    }
  }
  return status;
}

}  // namespace vfm::dist

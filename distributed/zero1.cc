#include "distributed/zero1.h"

namespace vfm::dist {

namespace {
absl::Status WaitAll(std::vector<std::unique_ptr<Work>>& works) {
  absl::Status status;
  for (auto& w : works) {
    absl::Status s = w->Wait();
    if (status.ok()) status = s;
  }
  works.clear();
  return status;
}
}  // namespace

absl::Status AllGatherParameters(const GradBuckets& grads, Communicator& comm) {
  const int rank = comm.rank();
  for (const GradBuckets::Span& span : grads.Spans(rank)) {
    const GradBuckets::Slot& slot = grads.slots()[span.slot];
    const int64_t n = span.end - span.begin;
    FlatRange(grads.Block(slot.bucket, rank), span.block_offset, span.block_offset + n)
        .CopyFrom(FlatRange(slot.param, span.begin, span.end));
  }
  std::vector<std::unique_ptr<Work>> works;
  for (size_t b = 0; b < grads.buckets().size(); ++b)
    works.push_back(comm.AllGather(grads.Block(b, rank), grads.buckets()[b].flat));
  if (absl::Status s = WaitAll(works); !s.ok()) return s;
  for (const GradBuckets::Slot& slot : grads.slots()) {
    Tensor p = slot.param;
    p.CopyFrom(SlotView(grads.buckets()[slot.bucket].flat, slot));
    p.ZeroGrad();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Tensor>> GatherBlocks(const GradBuckets& grads, const std::vector<Tensor>& blocks,
                                                 Communicator& comm) {
  VFM_CHECK(blocks.size() == grads.buckets().size())
      << blocks.size() << " blocks for " << grads.buckets().size() << " buckets";
  std::vector<Tensor> whole;
  std::vector<std::unique_ptr<Work>> works;
  for (size_t b = 0; b < blocks.size(); ++b) {
    const Tensor& flat = grads.buckets()[b].flat;
    whole.push_back(Tensor::Empty(flat.shape(), blocks[b].dtype(), blocks[b].device()));
    works.push_back(comm.AllGather(blocks[b], whole.back()));
  }
  if (absl::Status s = WaitAll(works); !s.ok()) return s;
  return whole;
}

}  // namespace vfm::dist

#include "autograd/grad_buckets.h"

#include <algorithm>

namespace vfm {

Tensor SlotView(const Tensor& bucket_like, const GradBuckets::Slot& slot) {
  const Shape& shape = slot.param.shape();
  return bucket_like.View(shape, ContiguousStrides(shape), bucket_like.offset() + slot.offset);
}

Tensor FlatRange(const Tensor& t, int64_t begin, int64_t end) {
  VFM_CHECK(t.is_contiguous() && 0 <= begin && begin <= end && end <= t.numel())
      << "elements [" << begin << ", " << end << ") of a " << (t.is_contiguous() ? "" : "non-") << "contiguous "
      << ShapeToString(t.shape()) << " tensor";
  return t.View({end - begin}, {1}, t.offset() + begin);
}

GradBuckets::GradBuckets(const nn::NamedTensors& params, int64_t bucket_bytes, int blocks) : blocks_(blocks) {
  VFM_CHECK(bucket_bytes > 0 && blocks > 0) << "gradient buckets of " << bucket_bytes << " bytes in " << blocks
                                            << " blocks";
  // Fill each bucket up to the size limit (a parameter larger than the limit gets a bucket of its own).
  std::vector<int64_t> used;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const auto& [name, p] = *it;
    if (!p.requires_grad()) continue;
    VFM_CHECK(p.dtype() == DType::kF32 && p.is_contiguous())
        << "gradient buckets: parameter " << name << " must be contiguous f32";
    VFM_CHECK(slots_.empty() || p.device() == slots_[0].param.device())
        << "gradient buckets: parameter " << name << " is on " << p.device().ToString() << ", "
        << slots_[0].name << " on " << slots_[0].param.device().ToString();
    if (used.empty() || (used.back() > 0 && (used.back() + p.numel()) * 4 > bucket_bytes)) used.push_back(0);
    slots_.push_back(Slot{name, p, used.size() - 1, used.back()});
    used.back() += p.numel();
  }
  int64_t total = 0;
  std::vector<int64_t> begin;
  for (int64_t n : used) {
    begin.push_back(total);
    total += (n + blocks - 1) / blocks * blocks;
  }
  buffer_ = Tensor::Zeros({total}, DType::kF32, slots_.empty() ? Device::CPU() : slots_[0].param.device());
  for (size_t b = 0; b < used.size(); ++b) {
    const int64_t end = b + 1 < used.size() ? begin[b + 1] : total;
    buckets_.push_back(Bucket{FlatRange(buffer_, begin[b], end), 0, 0});
  }
  for (size_t s = 0; s < slots_.size(); ++s) {
    Slot& slot = slots_[s];
    Bucket& bucket = buckets_[slot.bucket];
    if (s == 0 || slots_[s - 1].bucket != slot.bucket) bucket.first_slot = s;
    bucket.end_slot = s + 1;
    slot.param.ZeroGrad();
    slot.param.set_grad_home(SlotView(bucket.flat, slot));
  }
}

GradBuckets::~GradBuckets() {
  for (const Slot& slot : slots_) {
    Tensor p = slot.param;
    if (p.grad_home().defined() && p.grad_home().storage() == buffer_.storage()) p.set_grad_home(Tensor());
  }
}

Tensor GradBuckets::Block(size_t bucket, int block) const {
  VFM_CHECK(bucket < buckets_.size() && block >= 0 && block < blocks_)
      << "block " << block << " of bucket " << bucket << " (" << buckets_.size() << " buckets of " << blocks_
      << " blocks)";
  const int64_t size = block_size(bucket);
  return FlatRange(buckets_[bucket].flat, block * size, (block + 1) * size);
}

std::vector<GradBuckets::Span> GradBuckets::Spans(int block) const {
  std::vector<Span> spans;
  for (size_t s = 0; s < slots_.size(); ++s) {
    const Slot& slot = slots_[s];
    const int64_t lo = block * block_size(slot.bucket), hi = lo + block_size(slot.bucket);
    const int64_t begin = std::max(lo, slot.offset), end = std::min(hi, slot.offset + slot.param.numel());
    if (begin < end) spans.push_back(Span{s, begin - slot.offset, end - slot.offset, begin - lo});
  }
  return spans;
}

}  // namespace vfm

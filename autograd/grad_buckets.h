// Gradients are born where they are reduced (DESIGN.md, "Distributed"). GradBuckets lays out the
// gradients of a model's trainable parameters in one flat fp32 buffer, allocated once: the parameters in
// reverse order of registration (the order backward completes their gradients), grouped in buckets of
// about `bucket_bytes` (a larger parameter gets one of its own), each bucket padded with zeros to a
// multiple of `blocks` elements so that it cuts into `blocks` equal blocks (ZeRO-1: one per rank).
// Every parameter's gradient home (Tensor::set_grad_home) is its slot in its bucket: backward writes the
// gradient straight there, the data-parallel reducer averages the buckets in place
// (distributed/reducer.h), and clipping and AdamW run over spans of them (trainer/adamw.h). One rank
// uses the same layout as many; ZeRO-1 only adds the blocks.
#pragma once
#include <string>
#include <vector>

#include "autograd/nn/module.h"

namespace vfm {

class GradBuckets {
 public:
  struct Slot {
    std::string name;
    Tensor param;
    size_t bucket;
    int64_t offset;  // in elements, from the start of its bucket
  };
  struct Bucket {
    Tensor flat;                  // its stretch of the buffer: the gradients back to back, then the padding
    size_t first_slot, end_slot;  // its slots: [first_slot, end_slot) of slots()
  };
  // The part of one parameter that lies in one block of its bucket: elements [begin, end) of slot
  // `slot`'s parameter, which start at `block_offset` in the block.
  struct Span {
    size_t slot;
    int64_t begin, end, block_offset;
  };

  // Lays out the trainable parameters of `params` (contiguous f32, all on one device) and makes each
  // slot its parameter's gradient home (dropping any gradient they had).
  GradBuckets(const nn::NamedTensors& params, int64_t bucket_bytes = 25 << 20, int blocks = 1);
  // The parameters lose their homes (backward allocates their gradients again).
  ~GradBuckets();
  GradBuckets(const GradBuckets&) = delete;
  GradBuckets& operator=(const GradBuckets&) = delete;

  const std::vector<Slot>& slots() const { return slots_; }
  const std::vector<Bucket>& buckets() const { return buckets_; }
  int blocks() const { return blocks_; }
  Device device() const { return buffer_.device(); }
  int64_t block_size(size_t bucket) const { return buckets_[bucket].flat.numel() / blocks_; }
  // Block `block` of bucket `bucket` (a view of the buffer).
  Tensor Block(size_t bucket, int block) const;
  // The spans of block `block` of every bucket, in slot order: with one block, every parameter whole.
  // A parameter lies in one bucket, so it has at most one span in a block.
  std::vector<Span> Spans(int block) const;

 private:
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  int blocks_;
  Tensor buffer_;
};

// A slot's stretch of a bucket-shaped tensor (its gradients, gathered optimizer state, parameters in
// transit), shaped like its parameter.
Tensor SlotView(const Tensor& bucket_like, const GradBuckets::Slot& slot);

// Elements [begin, end) of a contiguous tensor as a 1-D view (no autograd).
Tensor FlatRange(const Tensor& t, int64_t begin, int64_t end);

}  // namespace vfm

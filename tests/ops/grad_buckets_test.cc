// Gradient buckets (autograd/grad_buckets.h): backward writes each leaf's gradient straight into its slot
// of the flat buffer (no copy afterwards), with the values a plain backward gives; the layout's blocks
// split every parameter into spans that cover it exactly once.
#include "autograd/grad_buckets.h"

#include <gtest/gtest.h>

#include "autograd/ops.h"

namespace vfm {
namespace {

// Three parameters (a weight, a bias, a vector) and a loss that uses the weight twice.
struct Params {
  Params() {
    named = {{"fc.weight", Tensor::Randn({5, 7}, 1)},
             {"fc.bias", Tensor::Randn({5}, 2)},
             {"scale", Tensor::Randn({5}, 3)}};
    for (auto& [name, p] : named) p.set_requires_grad(true);
  }
  void Backward(uint64_t seed) const {
    const Tensor x = Tensor::Randn({3, 7}, seed);
    const Tensor h = ops::Linear(x, named[0].second, named[1].second);
    ops::Sum(ops::Mul(ops::Add(h, ops::Linear(x, named[0].second)), named[2].second)).Backward();
  }
  nn::NamedTensors named;
};

TEST(GradBuckets, BackwardWritesIntoTheSlotsAndAccumulatesThere) {
  Params plain, bucketed;
  GradBuckets grads(bucketed.named, /*bucket_bytes=*/64, /*blocks=*/2);
  for (int backward = 0; backward < 2; ++backward) {  // the second adds to the first
    plain.Backward(10 + backward);
    bucketed.Backward(10 + backward);
    for (size_t i = 0; i < plain.named.size(); ++i) {
      const Tensor& p = bucketed.named[i].second;
      ASSERT_TRUE(p.grad().defined()) << bucketed.named[i].first;
      EXPECT_EQ(p.grad().impl(), p.grad_home().impl()) << bucketed.named[i].first;
      EXPECT_EQ(p.grad().storage(), grads.buckets()[0].flat.storage()) << bucketed.named[i].first;
      EXPECT_EQ(p.grad().ToVector(), plain.named[i].second.grad().ToVector()) << bucketed.named[i].first;
    }
  }
  // After ZeroGrad a backward overwrites the slot rather than adding to what it held.
  for (auto& [name, p] : plain.named) p.ZeroGrad();
  for (auto& [name, p] : bucketed.named) p.ZeroGrad();
  EXPECT_FALSE(bucketed.named[0].second.grad().defined());
  plain.Backward(20);
  bucketed.Backward(20);
  for (size_t i = 0; i < plain.named.size(); ++i)
    EXPECT_EQ(bucketed.named[i].second.grad().ToVector(), plain.named[i].second.grad().ToVector());
}

TEST(GradBuckets, BlocksSplitEveryParameterIntoSpansOnce) {
  Params params;
  for (int blocks : {1, 2, 3, 7}) {
    GradBuckets grads(params.named, /*bucket_bytes=*/64, blocks);
    ASSERT_GE(grads.buckets().size(), 2u);
    std::vector<std::vector<int>> covered(grads.slots().size());
    for (size_t s = 0; s < grads.slots().size(); ++s) covered[s].assign(size_t(grads.slots()[s].param.numel()), 0);
    for (int block = 0; block < blocks; ++block) {
      for (const GradBuckets::Span& span : grads.Spans(block)) {
        const GradBuckets::Slot& slot = grads.slots()[span.slot];
        // The span's place in its block is its place in the bucket.
        EXPECT_EQ(block * grads.block_size(slot.bucket) + span.block_offset, slot.offset + span.begin);
        EXPECT_LE(span.block_offset + span.end - span.begin, grads.block_size(slot.bucket));
        for (int64_t i = span.begin; i < span.end; ++i) ++covered[span.slot][size_t(i)];
      }
    }
    for (size_t s = 0; s < covered.size(); ++s)
      for (int c : covered[s]) ASSERT_EQ(c, 1) << grads.slots()[s].name << " with " << blocks << " blocks";
    for (const GradBuckets::Bucket& bucket : grads.buckets()) EXPECT_EQ(bucket.flat.numel() % blocks, 0);
    if (blocks == 1) {
      EXPECT_EQ(grads.Spans(0).size(), grads.slots().size());
    }
  }
}

TEST(GradBuckets, ParametersLoseTheirHomesWithTheLayout) {
  Params params;
  {
    GradBuckets grads(params.named);
    EXPECT_TRUE(params.named[0].second.grad_home().defined());
  }
  EXPECT_FALSE(params.named[0].second.grad_home().defined());
  params.Backward(1);  // a plain backward again
  EXPECT_TRUE(params.named[0].second.grad().defined());
}

}  // namespace
}  // namespace vfm

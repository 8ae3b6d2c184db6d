// View ops on GPU tensors (autograd/ops/view.cc: the device is passed through; copies run on the device
// via Tensor::Clone / CopyFrom; Expand's backward sums with cuda::SumMiddleAxis): forward and backward in
// f32 and bf16 against the f64 host reference, at the model's token shapes.
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tests/gpu/graph_harness.h"

namespace vfm {
namespace {
using testing::ExpectGraphMatches;
using testing::GpuTest;
using testing::Graph;
using testing::Tolerances;
using testing::kBf16Unit;
using testing::RoundedToBf16;


class ViewGpu : public GpuTest {};

TEST_F(ViewGpu, ReshapeOfContiguousAndStridedInputs) {
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Reshape(in[0], {394, 768}); },
                     {Tensor::Randn({2, 197, 768}, 1)});
  // A transposed input is copied (on the device) before the reshape.
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Reshape(ops::Transpose(in[0], 1, 2), {2, -1}); },
                     {Tensor::Randn({2, 197, 37}, 2)});
}

TEST_F(ViewGpu, TransposeAndContiguous) {
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Contiguous(ops::Transpose(in[0], 0, 2)); },
                     {Tensor::Randn({3, 37, 100}, 3)});
  // Consumed directly as a strided view by an elementwise op.
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Scale(ops::Transpose(in[0], -1, -2), 2.0); },
                     {Tensor::Randn({2, 197, 37}, 4)});
}

TEST_F(ViewGpu, SliceAndSelect) {
  // Drop the class token; a window of the channels; the class token alone.
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Slice(in[0], 1, 1, 197); },
                     {Tensor::Randn({2, 197, 768}, 5)});
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Contiguous(ops::Slice(in[0], -1, 3, 40)); },
                     {Tensor::Randn({2, 37, 100}, 6)});
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Select(in[0], 1, 0); },
                     {Tensor::Randn({2, 197, 768}, 7)});
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Select(in[0], -1, 36); },
                     {Tensor::Randn({3, 100, 37}, 8)});
}

TEST_F(ViewGpu, SlicesOfOneTensorAccumulate) {
  // Two overlapping slices of one input: both backward windows land in its gradient.
  ExpectGraphMatches(
      [](const std::vector<Tensor>& in) {
        return ops::Add(ops::Slice(in[0], 0, 0, 100), ops::Slice(in[0], 0, 97, 197));
      },
      {Tensor::Randn({197, 37}, 9)});
}

TEST_F(ViewGpu, Expand) {
  // Backward sums over the expanded dimensions (bf16: rounded partial sums).
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Expand(in[0], {2, 197, 768}); },
                     {Tensor::Randn({1, 197, 1}, 10)});
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Expand(in[0], {2, 197, 768}); },
                     {Tensor::Randn({768}, 11)});
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Expand(in[0], {3, 100, 37}); },
                     {Tensor::Randn({3, 1, 37}, 12)});
  // Expanding a strided view.
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Expand(ops::Transpose(in[0], 0, 1), {5, 37, 3}); },
                     {Tensor::Randn({3, 37}, 13)});
}

TEST_F(ViewGpu, ViewsShareDeviceStorage) {
  const Tensor x = Tensor::Randn({2, 197, 37}, 14).ToDevice(Gpu());
  const Tensor t = ops::Transpose(x, 1, 2);
  const Tensor s = ops::Slice(x, 1, 1, 197);
  const Tensor r = ops::Reshape(x, {394, 37});
  for (const Tensor* v : {&t, &s, &r}) {
    EXPECT_TRUE(v->device() == Gpu());
    EXPECT_EQ(v->storage().get(), x.storage().get());
  }
  EXPECT_EQ(s.ToVector(), ops::Slice(x.ToDevice(Device::CPU()), 1, 1, 197).ToVector());
  EXPECT_EQ(t.ToVector(), ops::Transpose(x.ToDevice(Device::CPU()), 1, 2).ToVector());
}

}  // namespace
}  // namespace vfm

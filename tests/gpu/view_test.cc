// View ops on GPU tensors (autograd/ops/view.cc: the device is passed through; copies run on the device
// via Tensor::Clone / CopyFrom; Expand's backward sums with cuda::SumMiddleAxis): forward and backward in
// f32 and bf16 against the f64 host reference, at the model's token shapes.
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::GpuTest;
using testing::kBf16Unit;
using testing::RoundedToBf16;

// --- The op-on-GPU harness (the same in binary_, unary_, reduce_ and view_test.cc) ---------------------
// A graph maps its inputs to one tensor. It runs three ways on the same input values: on the host in f64
// (the reference), and on the GPU with f32 leaves used as f32 or cast to bf16 inside the graph
// (ops::Cast, as bf16 training does). The loss is sum(out * w) for a fixed random w that is exact in
// bf16 (both sides then feed the same upstream gradient), so every output element has its own weight;
// w is positive, so the gradient of a broadcast operand (a sum of many weighted terms) does not cancel
// to near zero, where the relative comparison of a one-element gradient would measure only noise.
// After Backward() the output and every leaf's gradient are compared with the reference.
using Graph = std::function<Tensor(const std::vector<Tensor>&)>;

struct GraphResult {
  Tensor out;                 // on the host, in the graph's dtype
  std::vector<Tensor> grads;  // d loss / d input, on the host
};

GraphResult RunGraph(const Graph& graph, const std::vector<Tensor>& inputs, bool on_gpu, DType dtype) {
  const Device device = on_gpu ? Device::CUDA(0) : Device::CPU();
  const DType leaf_dtype = on_gpu ? DType::kF32 : DType::kF64;
  std::vector<Tensor> leaves, args;
  for (const Tensor& x : inputs) {
    Tensor leaf = x.To(leaf_dtype).ToDevice(device);
    leaf.set_requires_grad(true);
    leaves.push_back(leaf);
    args.push_back(on_gpu ? ops::Cast(leaf, dtype) : leaf);
  }
  const Tensor out = graph(args);
  EXPECT_TRUE(out.device() == device) << "output on " << out.device().ToString();
  EXPECT_EQ(DTypeName(out.dtype()), DTypeName(on_gpu ? dtype : DType::kF64));
  const Tensor w = RoundedToBf16(Tensor::Uniform(out.shape(), 4321, 0.5, 1.5)).To(leaf_dtype).ToDevice(device);
  ops::Sum(ops::Mul(ops::Cast(out, leaf_dtype), w)).Backward();
  GraphResult result{out.ToDevice(Device::CPU()), {}};
  for (const Tensor& leaf : leaves) {
    const Tensor g = leaf.grad();
    EXPECT_TRUE(g.defined()) << "a leaf got no gradient";
    if (!g.defined()) continue;
    EXPECT_TRUE(g.device() == device) << "gradient on " << g.device().ToString();
    EXPECT_EQ(g.shape(), leaf.shape());
    result.grads.push_back(g.ToDevice(Device::CPU()));
  }
  return result;
}

struct Tolerances {
  double f32 = 2e-5;  // f32 kernels against f64: a few float roundings, fp32 reductions in another order
  // bf16: the output is rounded once (a relative error of at most one unit; twice that leaves margin for
  // the fp32 arithmetic before it); gradients pass two or three bf16 roundings (products, quotients,
  // partial sums of broadcast reductions) on the way back.
  double bf16_out = 2 * kBf16Unit;
  double bf16_grad = 4 * kBf16Unit;
};

void ExpectGraphMatches(const Graph& graph, const std::vector<Tensor>& inputs, const Tolerances& tol = {}) {
  {
    SCOPED_TRACE("f32");
    const GraphResult want = RunGraph(graph, inputs, false, DType::kF64);
    const GraphResult got = RunGraph(graph, inputs, true, DType::kF32);
    EXPECT_GPU_CLOSE(got.out, want.out, tol.f32);
    ASSERT_EQ(got.grads.size(), want.grads.size());
    for (size_t i = 0; i < got.grads.size(); ++i) {
      SCOPED_TRACE("gradient of input " + std::to_string(i));
      EXPECT_GPU_CLOSE(got.grads[i], want.grads[i], tol.f32);
    }
  }
  {
    SCOPED_TRACE("bf16");
    std::vector<Tensor> rounded;
    for (const Tensor& x : inputs) rounded.push_back(RoundedToBf16(x));
    const GraphResult want = RunGraph(graph, rounded, false, DType::kF64);
    const GraphResult got = RunGraph(graph, rounded, true, DType::kBF16);
    EXPECT_GPU_CLOSE(got.out, want.out, tol.bf16_out);
    ASSERT_EQ(got.grads.size(), want.grads.size());
    for (size_t i = 0; i < got.grads.size(); ++i) {
      SCOPED_TRACE("gradient of input " + std::to_string(i));
      EXPECT_GPU_CLOSE(got.grads[i], want.grads[i], tol.bf16_grad);
    }
  }
}
// --- end of the harness ---------------------------------------------------------------------------------

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

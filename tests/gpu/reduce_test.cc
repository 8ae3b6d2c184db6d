// Sums and means on the GPU (cuda::SumMiddleAxis through autograd/ops/reduce.cc): every reduced
// position (leading, middle, last dimension; all elements), both kernel shapes (rows: inner == 1;
// columns: inner > 1) with long and short reductions, forward and backward in f32 and bf16 against the
// f64 host reference, and bitwise determinism.
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

class ReduceGpu : public GpuTest {};

// f32: long fp32 sums (up to 1.5e5 terms) in another order than the f64 reference; a single-element
// result is compared relative to itself, which cancellation can make small.
const Tolerances kSumTol{1e-4};

TEST_F(ReduceGpu, SumOverEachDimension) {
  const Shape shape = {2, 197, 768};
  for (int64_t dim : {0, 1, 2, -1})
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE("dim " + std::to_string(dim) + (keepdim ? " keepdim" : ""));
      ExpectGraphMatches([dim, keepdim](const std::vector<Tensor>& in) { return ops::Sum(in[0], dim, keepdim); },
                         {Tensor::Randn(shape, 1)}, kSumTol);
    }
}

TEST_F(ReduceGpu, SumShapesOfBothKernels) {
  struct Case {
    Shape shape;
    int64_t dim;
  };
  const std::vector<Case> cases = {
      {{3, 100000}, 1},     // few long rows: inner == 1, chunked into fp32 partials, then summed
      {{1, 3000001}, 1},    // one very long row (the loss's sum), a short last chunk
      {{300, 70000}, 1},    // more rows than the chunked path takes: one block per row
      {{1000, 37}, 1},      // many short rows: inner == 1, n not a multiple of 32
      {{5, 3}, 1},          // rows shorter than a warp
      {{12608, 37}, 0},     // a long column reduction (B * N tokens), inner not a multiple of 32
      {{37, 197, 3}, 1},    // inner 3
      {{2, 5, 1, 7}, 2},    // a dimension of size 1
      {{197, 100}, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(ShapeToString(c.shape) + " dim " + std::to_string(c.dim));
    ExpectGraphMatches([dim = c.dim](const std::vector<Tensor>& in) { return ops::Sum(in[0], dim); },
                       {Tensor::Randn(c.shape, 2)}, kSumTol);
  }
}

TEST_F(ReduceGpu, SumOfAllElementsAndMeans) {
  const Graph sum_all = [](const std::vector<Tensor>& in) { return ops::Sum(in[0]); };
  ExpectGraphMatches(sum_all, {Tensor::Randn({197, 768}, 3)}, kSumTol);
  ExpectGraphMatches(sum_all, {Tensor::Randn({3}, 5)}, kSumTol);
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Mean(in[0]); }, {Tensor::Randn({37, 100}, 4)},
                     kSumTol);
  // Mean rounds twice in bf16 (the sum, then the scaled value).
  const Tolerances mean_tol{1e-4, 3 * kBf16Unit, 4 * kBf16Unit};
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Mean(in[0], 1, true); },
                     {Tensor::Randn({37, 197, 3}, 6)}, mean_tol);
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Mean(in[0], -1); },
                     {Tensor::Randn({2, 197, 768}, 7)}, mean_tol);
}

TEST_F(ReduceGpu, SumOfAStridedView) {
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Sum(ops::Transpose(in[0], 0, 1), 0); },
                     {Tensor::Randn({100, 197}, 8)}, kSumTol);
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Sum(ops::Transpose(in[0], 0, 2)); },
                     {Tensor::Randn({3, 37, 100}, 9)}, kSumTol);
}

TEST_F(ReduceGpu, SumsAreDeterministic) {
  // Fixed summation order: the same inputs give the same bits, run after run.
  const Tensor x = Tensor::Randn({12608, 100}, 10).ToDevice(Gpu());
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const Tensor xd = x.To(dtype);
    for (int64_t dim : {0, 1}) {
      const std::vector<float> first = ops::Sum(xd, dim).ToVector();
      for (int rep = 0; rep < 3; ++rep)
        EXPECT_EQ(ops::Sum(xd, dim).ToVector(), first) << DTypeName(dtype) << " dim " << dim;
    }
    const std::vector<float> all = ops::Sum(xd).ToVector();
    EXPECT_EQ(ops::Sum(xd).ToVector(), all) << DTypeName(dtype);
  }
}

}  // namespace
}  // namespace vfm

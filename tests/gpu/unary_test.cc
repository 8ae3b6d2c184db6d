// GELU, exp and log on the GPU (kernels/cuda/unary.cu through autograd/ops/unary.cc): forward and
// backward in f32 and bf16 against the f64 host reference, at odd sizes and on strided inputs.
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

class UnaryGpu : public GpuTest {};

const std::vector<Shape> kShapes = {{2, 197, 768}, {37, 100}, {3}, {197, 37}};

TEST_F(UnaryGpu, GeluForwardAndBackward) {
  const Graph gelu = [](const std::vector<Tensor>& in) { return ops::Gelu(in[0]); };
  for (const Shape& shape : kShapes) {
    SCOPED_TRACE(ShapeToString(shape));
    // Wider than N(0, 1), so the tails (where erf saturates) are covered too.
    ExpectGraphMatches(gelu, {Tensor::Uniform(shape, 1, -6.0, 6.0)});
  }
  // A strided input is copied before the kernel; the gradient goes back through the transpose.
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Gelu(ops::Transpose(in[0], 0, 1)); },
                     {Tensor::Randn({37, 100}, 2)});
}

TEST_F(UnaryGpu, ExpForwardAndBackward) {
  const Graph exp = [](const std::vector<Tensor>& in) { return ops::Exp(in[0]); };
  for (const Shape& shape : kShapes) {
    SCOPED_TRACE(ShapeToString(shape));
    // The backward multiplies by the saved (bf16-rounded) output: one more rounding than the forward.
    ExpectGraphMatches(exp, {Tensor::Uniform(shape, 3, -4.0, 4.0)});
  }
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Exp(ops::Transpose(in[0], 0, 1)); },
                     {Tensor::Randn({100, 3}, 4)});
}

TEST_F(UnaryGpu, LogForwardAndBackward) {
  const Graph log = [](const std::vector<Tensor>& in) { return ops::Log(in[0]); };
  for (const Shape& shape : kShapes) {
    SCOPED_TRACE(ShapeToString(shape));
    // Positive inputs; log is near 0 at 1, where the comparison's RMS floor keeps relative errors sane.
    ExpectGraphMatches(log, {Tensor::Uniform(shape, 5, 0.05, 5.0)});
  }
}

TEST_F(UnaryGpu, ComposedLogSoftplusLike) {
  // log(1 + exp(x)) * gelu(x): the three ops and the binary ones chained, gradients through all.
  ExpectGraphMatches(
      [](const std::vector<Tensor>& in) {
        return ops::Mul(ops::Log(ops::AddScalar(ops::Exp(in[0]), 1.0)), ops::Gelu(in[0]));
      },
      // Five bf16 roundings on the way forward (exp, +1, log, gelu, product), more on the way back.
      {Tensor::Randn({197, 37}, 6)}, Tolerances{2e-5, 4 * kBf16Unit, 6 * kBf16Unit});
}

}  // namespace
}  // namespace vfm

// The op-on-GPU harness of the elementwise, reduction and view tests (binary_, unary_, reduce_ and
// view_test.cc).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tests/gpu/gpu_test.h"

namespace vfm::testing {

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

inline GraphResult RunGraph(const Graph& graph, const std::vector<Tensor>& inputs, bool on_gpu, DType dtype) {
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

inline void ExpectGraphMatches(const Graph& graph, const std::vector<Tensor>& inputs, const Tolerances& tol = {}) {
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

}  // namespace vfm::testing

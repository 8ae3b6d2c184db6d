// GELU, exp and log on the GPU (kernels/cuda/unary.cu through autograd/ops/unary.cc): forward and
// backward in f32 and bf16 against the f64 host reference, at odd sizes and on strided inputs.
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

TEST_F(UnaryGpu, MisalignedViews) {
  // Views one element into their buffers: not 16-byte aligned, so the kernels take their one-element
  // loop (elementwise.cuh) instead of packs; 999 elements also leave a tail when aligned.
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Gelu(ops::Slice(in[0], 0, 1, 1000)); },
                     {Tensor::Uniform({1000}, 7, -6.0, 6.0)});
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Exp(ops::Slice(in[0], 0, 1, 1000)); },
                     {Tensor::Uniform({1000}, 8, -4.0, 4.0)});
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

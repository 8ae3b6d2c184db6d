// Sums and means on the GPU (cuda::SumMiddleAxis through autograd/ops/reduce.cc): every reduced
// position (leading, middle, last dimension; all elements), both kernel shapes (rows: inner == 1;
// columns: inner > 1) with long and short reductions, forward and backward in f32 and bf16 against the
// f64 host reference, and bitwise determinism.
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

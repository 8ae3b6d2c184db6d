// ops::Concat and ops::GatherTokens (autograd/ops/tokens.cc).
#include <cmath>

#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::ExpectClose;
using testing::ExpectGradientsMatch;
using testing::RandD;

TEST(Concat, ForwardAndGradients) {
  auto a = RandD({2, 1, 3}, 1).set_requires_grad(true);
  auto b = RandD({2, 4, 3}, 2).set_requires_grad(true);
  Tensor y = ops::Concat({a, b}, 1);
  ASSERT_EQ(y.shape(), (Shape{2, 5, 3}));
  EXPECT_EQ(y.at({1, 0, 2}), a.at({1, 0, 2}));
  EXPECT_EQ(y.at({1, 3, 1}), b.at({1, 2, 1}));
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Concat({in[0], in[1]}, 1); }, {a, b});
  EXPECT_THROW(ops::Concat({a, RandD({3, 4, 3}, 3)}, 1), Error);
}

TEST(GatherTokens, PicksRowsAndScattersGradients) {
  auto x = RandD({2, 5, 3}, 1).set_requires_grad(true);
  Tensor idx = Tensor::Empty({2, 3}, DType::kI64);
  const int64_t picks[] = {4, 0, 4, 1, 2, 3};  // a repeated index accumulates its gradient
  std::copy(picks, picks + 6, idx.data<int64_t>());
  Tensor y = ops::GatherTokens(x, idx);
  EXPECT_EQ(y.at({1, 2, 1}), x.at({1, 3, 1}));
  ExpectGradientsMatch([idx](const std::vector<Tensor>& in) { return ops::GatherTokens(in[0], idx); }, {x});
  idx.data<int64_t>()[0] = 5;
  EXPECT_THROW(ops::GatherTokens(x, idx), Error);
}

}  // namespace
}  // namespace vfm

#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::ExpectClose;
using testing::ExpectGradientsMatch;
using testing::RandD;

TEST(Binary, BroadcastForwardMatchesLoop) {
  Tensor a = RandD({2, 3, 4}, 1), b = RandD({3, 1}, 2);
  Tensor out = ops::Add(a, b), prod = ops::Mul(a, b), quot = ops::Div(a, ops::AddScalar(ops::Mul(b, b), 1.0));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k) {
        EXPECT_DOUBLE_EQ(out.at({i, j, k}), a.at({i, j, k}) + b.at({j, 0}));
        EXPECT_DOUBLE_EQ(prod.at({i, j, k}), a.at({i, j, k}) * b.at({j, 0}));
        EXPECT_NEAR(quot.at({i, j, k}), a.at({i, j, k}) / (b.at({j, 0}) * b.at({j, 0}) + 1), 1e-15);
      }
}

TEST(Binary, IncompatibleShapesThrow) {
  EXPECT_THROW(ops::Add(RandD({2, 3}, 1), RandD({4}, 2)), Error);
}

TEST(Binary, Gradients) {
  auto a = RandD({2, 3, 4}, 1).set_requires_grad(true);
  auto b = RandD({3, 1}, 2).set_requires_grad(true);
  auto c = ops::AddScalar(ops::Mul(RandD({4}, 3), RandD({4}, 3)), 0.5).set_requires_grad(true);
  ExpectGradientsMatch([](const std::vector<Tensor>& x) { return ops::Add(x[0], x[1]); }, {a, b});
  ExpectGradientsMatch([](const std::vector<Tensor>& x) { return ops::Sub(x[0], x[1]); }, {a, b});
  ExpectGradientsMatch([](const std::vector<Tensor>& x) { return ops::Mul(x[0], x[1]); }, {a, b});
  ExpectGradientsMatch([](const std::vector<Tensor>& x) { return ops::Div(x[0], x[1]); }, {a, c});
  ExpectGradientsMatch([](const std::vector<Tensor>& x) { return ops::Scale(ops::AddScalar(x[0], 2.0), -3.0); }, {a});
}

TEST(Binary, WhereSelectsAndRoutesGradients) {
  Tensor mask = Tensor::FromVector(std::vector<float>{1, 0, 0, 1, 1, 0}, {2, 3, 1}).To(DType::kU8);
  auto token = RandD({4}, 5).set_requires_grad(true);
  auto x = RandD({2, 3, 4}, 6).set_requires_grad(true);
  Tensor out = ops::Where(mask, token, x);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k)
        EXPECT_EQ(out.at({i, j, k}), mask.at({i, j, 0}) ? token.at({k}) : x.at({i, j, k}));
  ExpectGradientsMatch([mask](const std::vector<Tensor>& in) { return ops::Where(mask, in[0], in[1]); }, {token, x});
}

TEST(Binary, AddInPlace) {
  Tensor a = RandD({5}, 1), b = RandD({5}, 2);
  Tensor expected = ops::Add(a, ops::Scale(b, 0.5));
  ops::AddInPlace(a, b, 0.5);
  ExpectClose(a, expected, 1e-15, 0);
}

}  // namespace
}  // namespace vfm

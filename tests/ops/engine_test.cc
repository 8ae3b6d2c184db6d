// The tape itself: accumulation across uses and calls, no-grad scopes, gradient-ready hooks.
#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::RandD;

TEST(Engine, ReusedTensorAccumulates) {
  auto x = Tensor::FromVector(std::vector<double>{2.0}, {1}).set_requires_grad(true);
  Tensor y = ops::Mul(x, x);                  // x^2
  ops::Sum(ops::Add(y, ops::Scale(x, 3))).Backward();  // d/dx (x^2 + 3x) = 2x + 3
  EXPECT_DOUBLE_EQ(x.grad().item(), 7.0);
  ops::Sum(ops::Scale(x, 2)).Backward();      // gradients add up across backward calls
  EXPECT_DOUBLE_EQ(x.grad().item(), 9.0);
  x.ZeroGrad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Engine, SharedGradientsAreNotAliased) {
  // add hands one gradient tensor to both inputs; scaling one leaf's .grad must not change the other's.
  auto a = RandD({3}, 1).set_requires_grad(true);
  auto b = RandD({3}, 2).set_requires_grad(true);
  ops::Sum(ops::Add(a, b)).Backward();
  a.grad().Fill(5.0);
  EXPECT_EQ(b.grad().at({0}), 1.0);
}

TEST(Engine, NoGradRecordsNothing) {
  auto x = RandD({3}, 1).set_requires_grad(true);
  NoGradGuard guard;
  Tensor y = ops::Mul(x, x);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
}

TEST(Engine, ConstantsAreNotInTheGraph) {
  auto x = RandD({3}, 1).set_requires_grad(true);
  Tensor c = RandD({3}, 2);
  Tensor y = ops::Mul(c, c);
  EXPECT_FALSE(y.requires_grad());
  Tensor z = ops::Sum(ops::Mul(x, y));
  z.Backward();
  EXPECT_FALSE(c.grad().defined());
  EXPECT_TRUE(x.grad().defined());
}

TEST(Engine, GradReadyHookFiresOnceWithTheCompleteGradient) {
  // w is used by two ops; its hook must fire once, after both have contributed, and before
  // the earlier layer's parameter (reverse order of use).
  auto w1 = RandD({4, 4}, 1).set_requires_grad(true).set_name("w1");
  auto w2 = RandD({4, 4}, 2).set_requires_grad(true).set_name("w2");
  Tensor x = RandD({2, 4}, 3);
  std::vector<std::string> order;
  std::vector<double> seen;
  w1.AddGradReadyHook([&](const Tensor& g) { order.push_back("w1"); });
  w2.AddGradReadyHook([&](const Tensor& g) {
    order.push_back("w2");
    seen.push_back(g.at({0, 0}));
  });
  Tensor h = ops::Linear(x, w1);
  Tensor y = ops::Add(ops::Linear(h, w2), ops::Linear(ops::Gelu(h), w2));
  ops::Sum(y).Backward();
  ASSERT_EQ(order, (std::vector<std::string>{"w2", "w1"}));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], w2.grad().at({0, 0}));
}

TEST(Engine, BackwardTwiceThroughTheSameGraphIsAnError) {
  auto x = RandD({3}, 1).set_requires_grad(true);
  Tensor y = ops::Sum(ops::Gelu(x));
  y.Backward();
  EXPECT_THROW(y.Backward(), Error);
}

}  // namespace
}  // namespace vfm

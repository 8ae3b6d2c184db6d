#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::ExpectGradientsMatch;
using testing::RandD;

TEST(Reduce, SumAndMeanMatchLoops) {
  Tensor x = RandD({2, 3, 4}, 1);
  Tensor s1 = ops::Sum(x, 1), m2 = ops::Mean(x, -1, true);
  EXPECT_EQ(s1.shape(), (Shape{2, 4}));
  EXPECT_EQ(m2.shape(), (Shape{2, 3, 1}));
  double total = 0;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t k = 0; k < 4; ++k) {
      double s = 0;
      for (int64_t j = 0; j < 3; ++j) s += x.at({i, j, k});
      EXPECT_NEAR(s1.at({i, k}), s, 1e-14);
      total += s;
    }
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      double s = 0;
      for (int64_t k = 0; k < 4; ++k) s += x.at({i, j, k});
      EXPECT_NEAR(m2.at({i, j, 0}), s / 4, 1e-14);
    }
  EXPECT_NEAR(ops::Sum(x).item(), total, 1e-13);
  EXPECT_NEAR(ops::Mean(x).item(), total / 24, 1e-14);
}

TEST(Reduce, Gradients) {
  auto x = RandD({2, 3, 4}, 1).set_requires_grad(true);
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Sum(in[0], 1); }, {x});
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Mean(in[0], 2, true); }, {x});
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Mean(in[0]); }, {x});
}

}  // namespace
}  // namespace vfm

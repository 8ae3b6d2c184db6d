// ops::L2Normalize and ops::WeightNormLinear (autograd/ops/l2norm.cc).
#include <cmath>

#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::ExpectClose;
using testing::ExpectGradientsMatch;
using testing::RandD;

TEST(L2Normalize, ForwardAndGradients) {
  auto x = RandD({5, 6}, 3).set_requires_grad(true);
  Tensor y = ops::L2Normalize(x);
  for (int64_t r = 0; r < 5; ++r) {
    double n = 0;
    for (int64_t c = 0; c < 6; ++c) n += x.at({r, c}) * x.at({r, c});
    for (int64_t c = 0; c < 6; ++c) EXPECT_NEAR(y.at({r, c}), x.at({r, c}) / std::sqrt(n), 1e-15);
  }
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::L2Normalize(in[0]); }, {x});
  // Below eps the norm is clamped: y = x / eps, a linear map.
  auto tiny = RandD({2, 3}, 4, 1e-9).set_requires_grad(true);
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::L2Normalize(in[0], 1e-6); }, {tiny}, 1e-12);
}

TEST(WeightNormLinear, ForwardAndGradients) {
  auto x = RandD({4, 6}, 1).set_requires_grad(true);
  auto v = RandD({5, 6}, 2).set_requires_grad(true);
  auto g = RandD({5}, 3).set_requires_grad(true);
  Tensor y = ops::WeightNormLinear(x, v, g);
  for (int64_t o = 0; o < 5; ++o) {
    double n = 0, dot = 0;
    for (int64_t c = 0; c < 6; ++c) n += v.at({o, c}) * v.at({o, c});
    for (int64_t c = 0; c < 6; ++c) dot += x.at({2, c}) * v.at({o, c});
    EXPECT_NEAR(y.at({2, o}), g.at({o}) * dot / std::sqrt(n), 1e-13);
  }
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::WeightNormLinear(in[0], in[1], in[2]); },
                       {x, v, g});
}

}  // namespace
}  // namespace vfm

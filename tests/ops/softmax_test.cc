#include <cmath>

#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::ExpectClose;
using testing::ExpectGradientsMatch;
using testing::RandD;

TEST(Softmax, ForwardMatchesNaive) {
  Tensor x = RandD({4, 11}, 1, 5.0);
  Tensor y = ops::Softmax(x), l = ops::LogSoftmax(x);
  for (int64_t r = 0; r < 4; ++r) {
    double z = 0;
    for (int64_t c = 0; c < 11; ++c) z += std::exp(x.at({r, c}));
    for (int64_t c = 0; c < 11; ++c) {
      EXPECT_NEAR(y.at({r, c}), std::exp(x.at({r, c})) / z, 1e-15);
      EXPECT_NEAR(l.at({r, c}), x.at({r, c}) - std::log(z), 1e-13);
    }
  }
}

TEST(Softmax, StableForLargeLogits) {
  Tensor x = Tensor::FromVector(std::vector<float>{1000, 1001, 999}, {1, 3});
  const std::vector<float> y = ops::Softmax(x).ToVector();
  for (float v : y) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(y[1], std::exp(1.0) / (1 + std::exp(1.0) + std::exp(-1.0)), 1e-6);
}

TEST(Softmax, Gradients) {
  auto x = RandD({3, 2, 7}, 2, 2.0).set_requires_grad(true);
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Softmax(in[0]); }, {x});
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::LogSoftmax(in[0]); }, {x});
}

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

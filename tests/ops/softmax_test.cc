// ops::Softmax and ops::LogSoftmax (autograd/ops/softmax.cc).
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

}  // namespace
}  // namespace vfm

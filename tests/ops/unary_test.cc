#include <cmath>
#include <vector>

#include "kernels/cpu/unary.h"
#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::ExpectGradientsMatch;
using testing::RandD;

TEST(Unary, GeluIsErfForm) {
  Tensor x = RandD({100}, 1, 3.0);
  Tensor y = ops::Gelu(x);
  for (int64_t i = 0; i < 100; ++i) {
    const double v = x.at({i});
    EXPECT_NEAR(y.at({i}), 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))), 1e-14);
  }
}

TEST(Unary, Gradients) {
  auto x = RandD({3, 7}, 2, 2.0).set_requires_grad(true);
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Gelu(in[0]); }, {x});
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Exp(in[0]); }, {x});
  auto pos = ops::AddScalar(ops::Mul(RandD({9}, 3), RandD({9}, 3)), 0.1).set_requires_grad(true);
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Log(in[0]); }, {pos});
}

// The float kernels use their own vectorisable erf and exp (kernels/cpu/unary.cc): on a dense grid they stay
// within a few ulp of the exact GELU and its derivative (measured: 1.2e-7 (1 + |x|) and 2.8e-7 (1 + x^2);
// libm's erff gives 0.8e-7 for both), and the specials keep their meaning.
TEST(Unary, GeluF32MatchesExactForm) {
  const int64_t n = 240001;
  std::vector<float> x(n), y(n), ones(n, 1.f), dx(n);
  for (int64_t i = 0; i < n; ++i) x[i] = -12.f + 24.f * float(i) / float(n - 1);
  cpu::GeluForward<float>(x.data(), y.data(), n);
  cpu::GeluBackward<float>(ones.data(), x.data(), dx.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i], cdf = 0.5 * (1 + std::erf(v / std::sqrt(2.0)));
    const double dref = cdf + v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI);
    ASSERT_NEAR(y[i], v * cdf, 2e-7 * (1 + std::fabs(v))) << "gelu(" << v << ")";
    ASSERT_NEAR(dx[i], dref, 4e-7 * (1 + v * v)) << "gelu'(" << v << ")";
  }
  const float specials[] = {NAN, INFINITY, 0.f, 40.f, -40.f, -1e30f};
  float out[6], grad[6];
  cpu::GeluForward<float>(specials, out, 6);
  cpu::GeluBackward<float>(ones.data(), specials, grad, 6);
  EXPECT_TRUE(std::isnan(out[0]) && std::isnan(grad[0]));
  EXPECT_EQ(out[1], INFINITY);
  EXPECT_EQ(out[2], 0.f);
  EXPECT_EQ(grad[2], 0.5f);
  EXPECT_EQ(out[3], 40.f);
  EXPECT_EQ(grad[3], 1.f);
  for (int i : {4, 5}) {
    EXPECT_EQ(out[i], 0.f) << specials[i];
    EXPECT_EQ(grad[i], 0.f) << specials[i];
  }
}

}  // namespace
}  // namespace vfm

#include <cmath>

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

TEST(Unary, GeluF32MatchesF64) {
  Tensor x = RandD({1000}, 4, 3.0);
  testing::ExpectClose(ops::Gelu(x.To(DType::kF32)), ops::Gelu(x), 1e-6, 1e-6);
}

}  // namespace
}  // namespace vfm

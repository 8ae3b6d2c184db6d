// KoLeoLoss (trainer/koleo_loss.h) against a direct double-precision computation of DINOv2's formula: the
// value, and the gradient against central finite differences of that computation, on a batch where one row
// is the nearest neighbour of several (the backward must add their terms).
#include "trainer/koleo_loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

namespace vfm {
namespace {

constexpr int64_t kRows = 7, kDim = 5;

// Neighbour of each row (largest dot product of the normalised rows; ties: the first).
std::vector<int64_t> Neighbours(const std::vector<double>& x) {
  std::vector<double> u(x);
  for (int64_t i = 0; i < kRows; ++i) {
    double n = 0;
    for (int64_t d = 0; d < kDim; ++d) n += x[i * kDim + d] * x[i * kDim + d];
    for (int64_t d = 0; d < kDim; ++d) u[i * kDim + d] = x[i * kDim + d] / std::sqrt(n);
  }
  std::vector<int64_t> nn(kRows);
  for (int64_t i = 0; i < kRows; ++i) {
    double best = -2;
    for (int64_t j = 0; j < kRows; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < kDim; ++d) dot += u[i * kDim + d] * u[j * kDim + d];
      if (j != i && dot > best) best = dot, nn[i] = j;
    }
  }
  return nn;
}

// -1/n sum_i log(||x_i/|x_i| - x_j/|x_j| + eps|| + eps) with the neighbours given.
double Reference(const std::vector<double>& x, const std::vector<int64_t>& nn) {
  const double eps = 1e-8;
  auto norm = [&](int64_t i) {
    double n = 0;
    for (int64_t d = 0; d < kDim; ++d) n += x[i * kDim + d] * x[i * kDim + d];
    return std::sqrt(n);
  };
  double sum = 0;
  for (int64_t i = 0; i < kRows; ++i) {
    double d2 = 0;
    for (int64_t d = 0; d < kDim; ++d) {
      const double diff = x[i * kDim + d] / norm(i) - x[nn[i] * kDim + d] / norm(nn[i]) + eps;
      d2 += diff * diff;
    }
    sum += std::log(std::sqrt(d2) + eps);
  }
  return -sum / kRows;
}

TEST(KoLeoLoss, MatchesTheFormulaAndItsFiniteDifferenceGradient) {
  const Tensor x = Tensor::Randn({kRows, kDim}, 11);
  const std::vector<float> xf = x.ToVector();
  const std::vector<double> xd(xf.begin(), xf.end());
  const std::vector<int64_t> nn = Neighbours(xd);
  ASSERT_LT(std::set<int64_t>(nn.begin(), nn.end()).size(), size_t(kRows)) << "no row is the neighbour of two";

  Tensor leaf = x.Clone();
  leaf.set_requires_grad(true);
  const Tensor loss = KoLeoLoss(leaf);
  EXPECT_NEAR(loss.item(), Reference(xd, nn), 1e-5);
  loss.Backward();
  const std::vector<float> grad = leaf.grad().ToVector();
  for (size_t k = 0; k < xd.size(); ++k) {
    std::vector<double> plus(xd), minus(xd);
    plus[k] += 1e-5, minus[k] -= 1e-5;
    ASSERT_EQ(Neighbours(plus), nn);  // the step keeps the neighbours (argmax has no gradient)
    ASSERT_EQ(Neighbours(minus), nn);
    const double numeric = (Reference(plus, nn) - Reference(minus, nn)) / 2e-5;
    EXPECT_NEAR(grad[k], numeric, 2e-3 * std::max(1.0, std::abs(numeric))) << "element " << k;
  }
}

// Rows that crowd together cost more than rows spread apart: the regulariser pushes features apart.
TEST(KoLeoLoss, IsLargerForCrowdedRows) {
  std::vector<float> spread(kRows * kDim, 0.0f), crowded(kRows * kDim, 1.0f);
  for (int64_t i = 0; i < kRows; ++i) spread[i * kDim + i % kDim] = i < kDim ? 1.0f : -1.0f;
  for (int64_t i = 0; i < kRows; ++i) crowded[i * kDim] += 0.01f * float(i);
  const double a = KoLeoLoss(Tensor::FromVector(spread, {kRows, kDim})).item();
  const double b = KoLeoLoss(Tensor::FromVector(crowded, {kRows, kDim})).item();
  EXPECT_LT(a, b);
}

}  // namespace
}  // namespace vfm

// The op-test harness: an op's analytic gradient (autograd backward) against central finite differences,
// in float64, and element-wise comparison helpers.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "autograd/ops.h"

namespace vfm::testing {

inline Tensor RandD(const Shape& shape, uint64_t seed, double scale = 1.0) {
  return ops::Scale(Tensor::Randn(shape, seed, DType::kF64), scale);
}

// Largest |a - b| / (atol + rtol |b|) over elements; <= 1 means close.
inline void ExpectClose(const Tensor& a, const Tensor& b, double atol, double rtol, const std::string& what = "") {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const Tensor ad = a.To(DType::kF64), bd = b.To(DType::kF64);
  const double* pa = ad.data<double>();
  const double* pb = bd.data<double>();
  double worst = 0;
  int64_t worst_i = 0;
  for (int64_t i = 0; i < ad.numel(); ++i) {
    const double r = std::fabs(pa[i] - pb[i]) / (atol + rtol * std::fabs(pb[i]));
    if (!(r <= worst)) {
      worst = r;
      worst_i = i;
    }
  }
  EXPECT_LE(worst, 1.0) << what << ": element " << worst_i << " is " << pa[worst_i] << ", expected "
                        << pb[worst_i] << " (atol " << atol << ", rtol " << rtol << ")";
}

// f maps the inputs to one tensor; the checked scalar is sum(f(x) * R) for a fixed random R, so every
// output element contributes with a different weight. Inputs must be f64 leaves; those with
// requires_grad are checked.
inline void ExpectGradientsMatch(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                 std::vector<Tensor> inputs, double eps = 1e-6, double atol = 1e-7,
                                 double rtol = 1e-6) {
  Tensor out = f(inputs);
  ASSERT_EQ(out.dtype(), DType::kF64);
  const Tensor R = Tensor::Randn(out.shape(), 1234, DType::kF64);
  for (auto& x : inputs) x.ZeroGrad();
  ops::Sum(ops::Mul(out, R)).Backward();
  auto objective = [&]() {
    NoGradGuard no_grad;
    return ops::Sum(ops::Mul(f(inputs), R)).item();
  };
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    ASSERT_TRUE(x.grad().defined()) << "input " << k << " got no gradient";
    Tensor numeric = Tensor::Empty(x.shape(), DType::kF64);
    double* px = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double saved = px[i];
      px[i] = saved + eps;
      const double up = objective();
      px[i] = saved - eps;
      const double down = objective();
      px[i] = saved;
      numeric.data<double>()[i] = (up - down) / (2 * eps);
    }
    ExpectClose(x.grad(), numeric, atol, rtol, "gradient of input " + std::to_string(k));
  }
}

}  // namespace vfm::testing

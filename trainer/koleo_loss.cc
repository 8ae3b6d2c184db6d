#include "trainer/koleo_loss.h"

#include <vector>

#include "autograd/check.h"
#include "autograd/engine.h"

namespace vfm {

using namespace ops;

namespace {
constexpr double kEps = 1e-8;

// One-hot rows [n, n]: row i has its 1 at the nearest other row of the normalised x_hat (ties: the first).
Tensor NearestNeighbourSelector(const Tensor& x_hat) {
  NoGradGuard no_grad;
  const int64_t n = x_hat.size(0);
  const std::vector<float> dots = Linear(x_hat, x_hat).ToVector();  // x_hat x_hat^T
  std::vector<float> selector(size_t(n * n), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = i == 0 ? 1 : 0;
    for (int64_t j = 0; j < n; ++j)
      if (j != i && dots[size_t(i * n + j)] > dots[size_t(i * n + best)]) best = j;
    selector[size_t(i * n + best)] = 1.0f;
  }
  return Tensor::FromVector(selector, {n, n}).ToDevice(x_hat.device());
}
}  // namespace

Tensor KoLeoLoss(const Tensor& x) {
  VFM_CHECK(x.dim() == 2 && x.size(0) >= 2) << "KoLeoLoss: x must be [n >= 2, D]";
  const Tensor x32 = x.dtype() == DType::kF32 ? x : Cast(x, DType::kF32);
  // x / ||x||, as F.normalize (its max(||x||, eps) only matters for a zero row, which LayerNorm's output is not).
  const Tensor inv_norm = Exp(Scale(Log(Sum(Mul(x32, x32), 1, /*keepdim=*/true)), -0.5));
  const Tensor x_hat = Mul(x32, inv_norm);
  const Tensor neighbours = Matmul(NearestNeighbourSelector(x_hat), x_hat);
  const Tensor diff = AddScalar(Sub(x_hat, neighbours), kEps);
  const Tensor distance = Exp(Scale(Log(Sum(Mul(diff, diff), 1)), 0.5));
  return Scale(Mean(Log(AddScalar(distance, kEps))), -1.0);
}

}  // namespace vfm

#include <cmath>

#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::ExpectClose;
using testing::ExpectGradientsMatch;
using testing::RandD;

Tensor NaiveLayerNorm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  const int64_t C = x.size(-1), rows = x.numel() / C;
  Tensor xc = x.Clone(), out = Tensor::Empty(x.shape(), DType::kF64);
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < C; ++c) mean += xc.data<double>()[r * C + c] / C;
    for (int64_t c = 0; c < C; ++c) var += std::pow(xc.data<double>()[r * C + c] - mean, 2) / C;
    for (int64_t c = 0; c < C; ++c)
      out.data<double>()[r * C + c] =
          (xc.data<double>()[r * C + c] - mean) / std::sqrt(var + eps) * w.at({c}) + b.at({c});
  }
  return out;
}

TEST(LayerNorm, ForwardMatchesNaive) {
  Tensor x = RandD({3, 5, 37}, 1, 3.0), w = RandD({37}, 2), b = RandD({37}, 3);
  ExpectClose(ops::LayerNorm(x, w, b, 1e-6), NaiveLayerNorm(x, w, b, 1e-6), 1e-12, 1e-12);
}

TEST(LayerNorm, Gradients) {
  auto x = RandD({2, 3, 8}, 1, 2.0).set_requires_grad(true);
  auto w = RandD({8}, 2).set_requires_grad(true);
  auto b = RandD({8}, 3).set_requires_grad(true);
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::LayerNorm(in[0], in[1], in[2], 1e-6); },
                       {x, w, b});
}

TEST(LayerNorm, F32BackwardMatchesF64) {
  // Large enough for the multi-threaded path of the backward (per-thread dw/db partial sums).
  auto x = RandD({64, 16, 64}, 1).set_requires_grad(true);
  auto w = RandD({64}, 2).set_requires_grad(true);
  auto b = RandD({64}, 3).set_requires_grad(true);
  Tensor g = RandD({64, 16, 64}, 4);
  ops::Sum(ops::Mul(ops::LayerNorm(x, w, b, 1e-6), g)).Backward();
  auto xf = x.To(DType::kF32).set_requires_grad(true), wf = w.To(DType::kF32).set_requires_grad(true),
       bf = b.To(DType::kF32).set_requires_grad(true);
  ops::Sum(ops::Mul(ops::LayerNorm(xf, wf, bf, 1e-6), g.To(DType::kF32))).Backward();
  ExpectClose(xf.grad(), x.grad(), 1e-4, 1e-4, "dx");
  ExpectClose(wf.grad(), w.grad(), 1e-3, 1e-4, "dw");
  ExpectClose(bf.grad(), b.grad(), 1e-3, 1e-4, "db");
}

// f32 parameters of an f64 input (as f32 masters of a GPU's bf16 forward): the same output and gradients,
// bit for bit, as casting the parameters into the graph; the parameter gradients arrive in f32.
TEST(LayerNorm, MixedMatchesCastParameters) {
  auto x = RandD({3, 7}, 1).set_requires_grad(true);
  Tensor w = Tensor::Randn({7}, 2).set_requires_grad(true), b = Tensor::Randn({7}, 3).set_requires_grad(true);
  Tensor w2 = w.Clone().set_requires_grad(true), b2 = b.Clone().set_requires_grad(true);
  const Tensor mixed = ops::LayerNormMixed(x, w, w.To(DType::kF64), b, b.To(DType::kF64), 1e-6);
  const Tensor cast = ops::LayerNorm(x, ops::Cast(w2, DType::kF64), ops::Cast(b2, DType::kF64), 1e-6);
  EXPECT_EQ(mixed.ToVector(), cast.ToVector());
  ops::Sum(ops::Mul(mixed, mixed)).Backward();
  ops::Sum(ops::Mul(cast, cast)).Backward();
  EXPECT_EQ(w.grad().dtype(), DType::kF32);
  EXPECT_EQ(w.grad().ToVector(), w2.grad().ToVector());
  EXPECT_EQ(b.grad().ToVector(), b2.grad().ToVector());
  EXPECT_THROW(ops::LayerNormMixed(x, w, Tensor::Zeros({6}, DType::kF64), b, b.To(DType::kF64), 1e-6), Error);
}

}  // namespace
}  // namespace vfm

#include "kernels/cpu/matmul.h"
#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::ExpectClose;
using testing::ExpectGradientsMatch;
using testing::RandD;

TEST(Gemm, AllTranspositionsMatchNaiveLoop) {
  const int64_t m = 7, n = 5, k = 9;
  Tensor a = Tensor::Randn({m * k}, 1), b = Tensor::Randn({k * n}, 2);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor c = Tensor::Randn({m, n}, 3), ref = c.Clone();
      const int64_t lda = ta ? m : k, ldb = tb ? k : n;
      cpu::Gemm<float>(ta, tb, m, n, k, 0.5f, a.data<float>(), lda, b.data<float>(), ldb, 2.0f, c.data<float>(), n);
      cpu::GemmReference<float>(ta, tb, m, n, k, 0.5f, a.data<float>(), lda, b.data<float>(), ldb, 2.0f,
                                ref.data<float>(), n);
      ExpectClose(c, ref, 1e-5, 1e-5, "trans " + std::to_string(ta) + std::to_string(tb));
    }
}

TEST(Linear, ForwardMatchesLoopAndGradients) {
  auto x = RandD({2, 3, 5}, 1).set_requires_grad(true);
  auto w = RandD({4, 5}, 2).set_requires_grad(true);
  auto b = RandD({4}, 3).set_requires_grad(true);
  Tensor y = ops::Linear(x, w, b);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 4}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t o = 0; o < 4; ++o) {
        double s = b.at({o});
        for (int64_t c = 0; c < 5; ++c) s += x.at({i, j, c}) * w.at({o, c});
        EXPECT_NEAR(y.at({i, j, o}), s, 1e-12);
      }
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Linear(in[0], in[1], in[2]); }, {x, w, b});
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Linear(in[0], in[1]); }, {x, w});
  // A non-contiguous input (a transposed view) takes the same path after a copy.
  auto xt = RandD({5, 3}, 4).set_requires_grad(true);
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Linear(ops::Transpose(in[0], 0, 1), in[1]); },
                       {xt, w});
}

// f32 parameters of an f64 input (as f32 masters of a GPU's bf16 forward): the same outputs and
// gradients, bit for bit, as casting the parameters into the graph; the gradients arrive in f32.
TEST(Linear, MixedMatchesCastParameters) {
  auto x = RandD({2, 3, 5}, 1).set_requires_grad(true);
  Tensor w = Tensor::Randn({4, 5}, 2).set_requires_grad(true), b = Tensor::Randn({4}, 3).set_requires_grad(true);
  Tensor w2 = w.Clone().set_requires_grad(true), b2 = b.Clone().set_requires_grad(true);
  const Tensor mixed = ops::LinearMixed(x, w, w.To(DType::kF64), b, b.To(DType::kF64));
  const Tensor cast = ops::Linear(x, ops::Cast(w2, DType::kF64), ops::Cast(b2, DType::kF64));
  EXPECT_EQ(mixed.ToVector(), cast.ToVector());
  ops::Sum(ops::Mul(mixed, mixed)).Backward();
  ops::Sum(ops::Mul(cast, cast)).Backward();
  EXPECT_EQ(w.grad().dtype(), DType::kF32);
  EXPECT_EQ(b.grad().dtype(), DType::kF32);
  EXPECT_EQ(w.grad().ToVector(), w2.grad().ToVector());
  EXPECT_EQ(b.grad().ToVector(), b2.grad().ToVector());
  // Values that do not belong to the parameters are refused.
  EXPECT_THROW(ops::LinearMixed(x, w, Tensor::Zeros({5, 4}, DType::kF64), b, b.To(DType::kF64)), Error);
  EXPECT_THROW(ops::LinearMixed(x, w, w.To(DType::kF64), b, Tensor()), Error);
}

TEST(Matmul, BatchedAndSharedGradients) {
  auto a = RandD({2, 3, 4}, 1).set_requires_grad(true);
  auto b = RandD({2, 4, 5}, 2).set_requires_grad(true);
  auto b2 = RandD({4, 5}, 3).set_requires_grad(true);
  Tensor y = ops::Matmul(a, b);
  double s = 0;
  for (int64_t k = 0; k < 4; ++k) s += a.at({1, 2, k}) * b.at({1, k, 3});
  EXPECT_NEAR(y.at({1, 2, 3}), s, 1e-12);
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Matmul(in[0], in[1]); }, {a, b});
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Matmul(in[0], in[1]); }, {a, b2});
  EXPECT_THROW(ops::Matmul(a, RandD({3, 5}, 4)), Error);
}

}  // namespace
}  // namespace vfm

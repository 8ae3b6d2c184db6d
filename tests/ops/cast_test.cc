// Casts into the graph (ops::Cast, ops::CastFrom), batched conversions (ops::ConvertedCopies) and the
// per-step parameter copies of nn::CastScope, on the host: f32 parameters used by an f64 forward stand
// in for the GPU's f32 masters and bf16 forward (the GPU side: tests/gpu/tensor_test.cc, train_test.cc).
#include "autograd/nn/module.h"
#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {

// A module with two f32 parameters, and a forward that uses one of them twice.
class TwoUses : public nn::Module {
 public:
  TwoUses() {
    w = RegisterParameter("w", Tensor::Randn({3, 4}, 1));
    b = RegisterParameter("b", Tensor::Randn({4}, 2));
  }
  Tensor Forward(const Tensor& x) const {
    const Tensor h = ops::Add(ops::Matmul(x, nn::AsTypeOf(w, x)), nn::AsTypeOf(b, x));
    return ops::Add(h, nn::AsTypeOf(b, x));
  }
  Tensor w, b;
};

TEST(Cast, GradientReturnsInTheSourceType) {
  Tensor x = Tensor::Randn({5}, 3).set_requires_grad(true);
  const Tensor y = ops::Cast(x, DType::kF64);
  EXPECT_EQ(y.dtype(), DType::kF64);
  EXPECT_EQ(y.ToVector(), x.ToVector());
  ops::Sum(ops::Scale(y, 2.0)).Backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().dtype(), DType::kF32);
  for (float g : x.grad().ToVector()) EXPECT_EQ(g, 2.0f);
  EXPECT_EQ(ops::Cast(x, DType::kF32).impl(), x.impl());  // already that type: the tensor itself
}

TEST(Cast, CastFromSharesTheValuesAndChecksShapes) {
  Tensor x = Tensor::Randn({2, 3}, 4).set_requires_grad(true);
  const Tensor values = x.To(DType::kF64);
  const Tensor a = ops::CastFrom(x, values), b = ops::CastFrom(x, values);
  EXPECT_EQ(a.raw_data(), values.raw_data());
  EXPECT_NE(a.grad_fn(), b.grad_fn());  // one node per use
  ops::Sum(ops::Add(a, ops::Scale(b, 3.0))).Backward();
  for (float g : x.grad().ToVector()) EXPECT_EQ(g, 4.0f);
  EXPECT_THROW(ops::CastFrom(x, Tensor::Zeros({3, 2}, DType::kF64)), Error);
}

TEST(Cast, ConvertedCopiesEqualConversions) {
  const std::vector<Tensor> xs = {Tensor::Randn({7}, 5), Tensor::Randn({2, 3}, 6),
                                  ops::Transpose(Tensor::Randn({3, 4}, 7), 0, 1)};
  const std::vector<Tensor> copies = ops::ConvertedCopies(xs, DType::kF64);
  ASSERT_EQ(copies.size(), xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_EQ(copies[i].dtype(), DType::kF64);
    EXPECT_EQ(copies[i].shape(), xs[i].shape());
    EXPECT_EQ(copies[i].ToVector(), xs[i].ToVector());
  }
}

// Two forwards inside a scope give the same outputs and the same f32 gradients, bit for bit, as two
// forwards without one; inside it every use of a parameter reads the one copy made at its start.
TEST(CastScope, SameResultsWithOneCopyPerParameter) {
  const Tensor x1 = Tensor::Randn({2, 3}, 8).To(DType::kF64), x2 = Tensor::Randn({5, 3}, 9).To(DType::kF64);
  TwoUses plain, scoped;
  const Tensor p1 = plain.Forward(x1), p2 = plain.Forward(x2);
  ops::Sum(ops::Add(ops::Sum(p1), ops::Scale(ops::Sum(p2), 0.5))).Backward();
  Tensor s1, s2;
  {
    const nn::CastScope scope(scoped, DType::kF64);
    const Tensor copy = nn::CastScope::Lookup(scoped.w, DType::kF64);
    ASSERT_TRUE(copy.defined());
    EXPECT_EQ(nn::AsTypeOf(scoped.w, x1).raw_data(), copy.raw_data());
    EXPECT_EQ(nn::AsTypeOf(scoped.w, x2).raw_data(), copy.raw_data());
    EXPECT_FALSE(nn::CastScope::Lookup(scoped.w, DType::kF32).defined());  // only the scope's dtype
    EXPECT_FALSE(nn::CastScope::Lookup(plain.w, DType::kF64).defined());   // only the scope's module
    s1 = scoped.Forward(x1);
    s2 = scoped.Forward(x2);
  }
  EXPECT_FALSE(nn::CastScope::Lookup(scoped.w, DType::kF64).defined());  // ended with the scope
  // The graph outlives the scope: the backward runs after it, as the training step's does.
  ops::Sum(ops::Add(ops::Sum(s1), ops::Scale(ops::Sum(s2), 0.5))).Backward();
  EXPECT_EQ(s1.ToVector(), p1.ToVector());
  EXPECT_EQ(s2.ToVector(), p2.ToVector());
  EXPECT_EQ(scoped.w.grad().dtype(), DType::kF32);
  EXPECT_EQ(scoped.w.grad().ToVector(), plain.w.grad().ToVector());
  EXPECT_EQ(scoped.b.grad().ToVector(), plain.b.grad().ToVector());
}

TEST(CastScope, NestsAndSkipsParametersAlreadyInTheType) {
  TwoUses outer_module, inner_module;
  const nn::CastScope outer(outer_module, DType::kF64);
  {
    const nn::CastScope inner(inner_module, DType::kF64);
    EXPECT_TRUE(nn::CastScope::Lookup(outer_module.b, DType::kF64).defined());
    EXPECT_TRUE(nn::CastScope::Lookup(inner_module.b, DType::kF64).defined());
  }
  EXPECT_TRUE(nn::CastScope::Lookup(outer_module.b, DType::kF64).defined());
  EXPECT_FALSE(nn::CastScope::Lookup(inner_module.b, DType::kF64).defined());
  // The f32 path: nothing to copy, and AsTypeOf gives the parameter itself.
  const nn::CastScope same(inner_module, DType::kF32);
  EXPECT_FALSE(nn::CastScope::Lookup(inner_module.w, DType::kF32).defined());
  EXPECT_EQ(nn::AsTypeOf(inner_module.w, Tensor::Zeros({1})).impl(), inner_module.w.impl());
}

}  // namespace
}  // namespace vfm

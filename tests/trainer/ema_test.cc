// The EMA (trainer/ema.h): each model's parameters move once into one flat buffer, keeping their values,
// every handle to them then viewing that buffer; the update over the buffers is the per-tensor formula.
#include "trainer/ema.h"

#include <gtest/gtest.h>

#include <cstring>

namespace vfm {
namespace {

// A weight, a bias and a frozen vector (the EMA averages it too), each in its own storage.
nn::NamedTensors Params(uint64_t seed) {
  nn::NamedTensors named = {{"fc.weight", Tensor::Randn({5, 7}, seed)},
                            {"fc.bias", Tensor::Randn({5}, seed + 1)},
                            {"head.g", Tensor::Randn({3}, seed + 2)}};
  named[0].second.set_requires_grad(true);
  named[1].second.set_requires_grad(true);
  return named;
}

std::vector<float> Values(const nn::NamedTensors& named) {
  std::vector<float> all;
  for (const auto& [name, p] : named) {
    const std::vector<float> v = p.ToVector();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

TEST(FlatParameters, MovesTheValuesIntoOneBufferThatEveryHandleViews) {
  const nn::NamedTensors params = Params(1);
  const std::vector<float> before = Values(params);
  Tensor held = params[1].second;  // another handle, as a module holds its own
  const Tensor home = Tensor::Zeros({5});
  held.set_grad_home(home);

  const Tensor flat = FlatParameters(params);
  EXPECT_EQ(flat.numel(), 35 + 5 + 3);
  EXPECT_EQ(flat.ToVector(), before);
  for (const auto& [name, p] : params) EXPECT_EQ(p.storage(), flat.storage()) << name;
  EXPECT_EQ(held.offset(), 35);
  EXPECT_TRUE(held.requires_grad());
  EXPECT_EQ(held.grad_home().impl(), home.impl());  // the gradient's home is not the parameter's

  flat.data<float>()[36] = 42.0f;  // the buffer is the parameters
  EXPECT_EQ(held.at({1}), 42.0);
  Tensor(params[2].second).Fill(-1.0);
  EXPECT_EQ(flat.ToVector().back(), -1.0f);

  const Tensor again = FlatParameters(params);  // already home: the same buffer, nothing moved
  EXPECT_EQ(again.storage(), flat.storage());
  EXPECT_EQ(again.offset(), 0);
}

TEST(FlatParameters, BringsBackAParameterMovedOut) {
  const nn::NamedTensors params = Params(4);
  const Tensor flat = FlatParameters(params);
  Tensor moved = params[0].second;
  moved.MoveInto(Tensor::Empty(moved.shape()));  // e.g. Module::MoveTo
  const std::vector<float> values = Values(params);
  const Tensor again = FlatParameters(params);
  EXPECT_NE(again.storage(), flat.storage());
  EXPECT_EQ(again.ToVector(), values);
  for (const auto& [name, p] : params) EXPECT_EQ(p.storage(), again.storage()) << name;
}

TEST(EmaUpdate, IsThePerTensorFormulaOverTheFlatBuffers) {
  const nn::NamedTensors teacher = Params(7), student = Params(11);
  std::vector<float> expected = Values(teacher);
  for (const double momentum : {0.996, 0.9995}) {
    const std::vector<float> s = Values(student);
    const float a = float(momentum), b = float(1.0 - momentum);
    for (size_t i = 0; i < expected.size(); ++i) expected[i] = a * expected[i] + b * s[i];
    EmaUpdate(teacher, student, momentum);
    const std::vector<float> got = Values(teacher);
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0) << "momentum " << momentum;
    EXPECT_EQ(Values(student), s);
    for (const auto& [name, p] : teacher) EXPECT_EQ(p.storage(), teacher[0].second.storage()) << name;
  }
}

}  // namespace
}  // namespace vfm

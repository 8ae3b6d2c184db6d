// Elementwise ops with broadcasting on the GPU (kernels/cuda/broadcast.cu through autograd/ops/binary.cc):
// forward and backward in f32 and bf16 against the f64 host reference, over the broadcast patterns of
// the model ([B, N, D] with [D], [B, 1, D], [1], a 0-d scalar, both sides broadcast) at odd sizes.
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tests/gpu/graph_harness.h"

namespace vfm {
namespace {
using testing::ExpectGraphMatches;
using testing::GpuTest;
using testing::Graph;
using testing::Tolerances;
using testing::kBf16Unit;
using testing::RoundedToBf16;


class BinaryGpu : public GpuTest {};

// u8 0/1 mask of `shape` (about half ones).
Tensor RandomMask(const Shape& shape, uint64_t seed) {
  const Tensor u = Tensor::Uniform(shape, seed, 0.0, 1.0);
  Tensor mask = Tensor::Empty(shape, DType::kU8);
  for (int64_t i = 0; i < u.numel(); ++i) mask.data<uint8_t>()[i] = u.data<float>()[i] < 0.5f ? 1 : 0;
  return mask;
}

struct ShapePair {
  Shape a, b;
};
const std::vector<ShapePair> kBroadcastCases = {
    {{2, 197, 768}, {768}},        // bias over tokens
    {{2, 197, 768}, {2, 1, 768}},  // per-sample row
    {{2, 37, 100}, {1}},           // one-element tensor
    {{2, 37, 100}, {}},            // 0-d scalar
    {{3, 37}, {3, 37}},            // same shape
    {{2, 1, 37}, {1, 197, 1}},     // both sides broadcast
    {{100}, {3, 37, 100}},         // the left operand broadcast
    {{3}, {3}},
};

std::string CaseName(const ShapePair& c) { return ShapeToString(c.a) + " op " + ShapeToString(c.b); }

// The left operand of a case. Positive when the right one has a single element: that operand's gradient
// is then one sum over every output (of w * a for mul, of w * a / b^2 for div), kept away from
// cancellation so that its relative error stays meaningful.
Tensor LeftOperand(const ShapePair& c) {
  return NumElements(c.b) == 1 ? Tensor::Uniform(c.a, 1, 0.5, 2.0) : Tensor::Randn(c.a, 1);
}

TEST_F(BinaryGpu, AddSubMulForwardAndBackward) {
  const std::vector<std::pair<const char*, Graph>> ops_to_test = {
      {"add", [](const std::vector<Tensor>& in) { return ops::Add(in[0], in[1]); }},
      {"sub", [](const std::vector<Tensor>& in) { return ops::Sub(in[0], in[1]); }},
      {"mul", [](const std::vector<Tensor>& in) { return ops::Mul(in[0], in[1]); }},
  };
  for (const ShapePair& c : kBroadcastCases)
    for (const auto& [name, graph] : ops_to_test) {
      SCOPED_TRACE(std::string(name) + " " + CaseName(c));
      ExpectGraphMatches(graph, {LeftOperand(c), Tensor::Randn(c.b, 2)});
    }
}

TEST_F(BinaryGpu, DivForwardAndBackward) {
  const Graph div = [](const std::vector<Tensor>& in) { return ops::Div(in[0], in[1]); };
  for (const ShapePair& c : kBroadcastCases) {
    SCOPED_TRACE("div " + CaseName(c));
    // Denominators away from zero, of both signs.
    const Tensor b = Tensor::Uniform(c.b, 3, 0.5, 2.0);
    const Tensor sign = Tensor::Uniform(c.b, 4, -1.0, 1.0);
    Tensor signed_b = Tensor::Empty(c.b, DType::kF32);
    for (int64_t i = 0; i < b.numel(); ++i)
      signed_b.data<float>()[i] = sign.data<float>()[i] < 0 ? -b.data<float>()[i] : b.data<float>()[i];
    // d/db = -g a / b^2 runs through two bf16 quotients before the broadcast sum: 8 units (measured on the
    // H200: 4.04 units at [2, 197, 768] / [2, 1, 768]).
    Tolerances tol;
    tol.bf16_grad = 8 * kBf16Unit;
    ExpectGraphMatches(div, {LeftOperand(c), signed_b}, tol);
  }
}

TEST_F(BinaryGpu, NonContiguousOperands) {
  // A transposed left operand (strided reads), and a sliced right operand with an offset.
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Add(ops::Transpose(in[0], 1, 2), in[1]); },
                     {Tensor::Randn({2, 100, 37}, 5), Tensor::Randn({100}, 6)});
  ExpectGraphMatches(
      [](const std::vector<Tensor>& in) { return ops::Mul(in[0], ops::Slice(in[1], 1, 1, 198)); },
      {Tensor::Randn({2, 197, 37}, 7), Tensor::Randn({2, 198, 37}, 8)});
}

TEST_F(BinaryGpu, MisalignedContiguousViews) {
  // Same-shape operands take the packed map (16-byte accesses) only when every pointer is 16-byte
  // aligned: here the left operand starts one element into its buffer, the right one at its start.
  ExpectGraphMatches(
      [](const std::vector<Tensor>& in) {
        return ops::Mul(ops::Slice(in[0], 0, 1, 1000), ops::Slice(in[1], 0, 0, 999));
      },
      {Tensor::Randn({1000}, 12), Tensor::Randn({1000}, 13)});
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Scale(ops::Slice(in[0], 0, 1, 1000), 0.5); },
                     {Tensor::Randn({1000}, 14)});
}

TEST_F(BinaryGpu, ScaleAndAddScalar) {
  for (const Shape& shape : {Shape{2, 197, 768}, Shape{37, 3}, Shape{1}}) {
    SCOPED_TRACE(ShapeToString(shape));
    ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Scale(in[0], -0.37); },
                       {Tensor::Randn(shape, 9)});
    ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::AddScalar(in[0], 1.25); },
                       {Tensor::Randn(shape, 10)});
  }
  // Scale of a non-contiguous view (copied first).
  ExpectGraphMatches([](const std::vector<Tensor>& in) { return ops::Scale(ops::Transpose(in[0], 0, 1), 3.0); },
                     {Tensor::Randn({197, 37}, 11)});
}

TEST_F(BinaryGpu, GradientsOfAReusedInputAccumulate) {
  // x feeds three ops: the engine adds the three gradients with ops::Add on the device.
  ExpectGraphMatches(
      [](const std::vector<Tensor>& in) {
        return ops::Add(ops::Mul(in[0], in[0]), ops::Sub(ops::Scale(in[0], 0.5), in[1]));
      },
      {Tensor::Randn({2, 197, 100}, 12), Tensor::Randn({100}, 13)});
}

TEST_F(BinaryGpu, WhereSelectsAndRoutesGradients) {
  // The iBOT masking pattern: mask [B, N, 1] picks the mask token [D] or the patch embedding [B, N, D].
  const Tensor mask = RandomMask({2, 197, 1}, 14);
  ExpectGraphMatches(
      [mask](const std::vector<Tensor>& in) { return ops::Where(mask.ToDevice(in[0].device()), in[0], in[1]); },
      {Tensor::Randn({768}, 15), Tensor::Randn({2, 197, 768}, 16)});
  // A full-shape mask with both values broadcast, and a 0-d right operand.
  const Tensor full_mask = RandomMask({3, 37, 100}, 17);
  ExpectGraphMatches(
      [full_mask](const std::vector<Tensor>& in) {
        return ops::Where(full_mask.ToDevice(in[0].device()), in[0], in[1]);
      },
      {Tensor::Randn({37, 1}, 18), Tensor::Randn({}, 19)});
}

TEST_F(BinaryGpu, WhereForwardMatchesTheHostExactly) {
  const Tensor mask = RandomMask({2, 37, 1}, 20);
  const Tensor a = Tensor::Randn({100}, 21), b = Tensor::Randn({2, 37, 100}, 22);
  const Tensor want = ops::Where(mask, a, b);
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const Tensor got = ops::Where(mask.ToDevice(Gpu()), a.ToDevice(Gpu()).To(dtype), b.ToDevice(Gpu()).To(dtype));
    // A selection rounds nothing: bf16 gives the rounded host values exactly.
    const Tensor expected = dtype == DType::kF32 ? want : RoundedToBf16(want);
    EXPECT_EQ(got.ToVector(), expected.ToVector()) << DTypeName(dtype);
  }
}

TEST_F(BinaryGpu, AddInPlace) {
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    SCOPED_TRACE(DTypeName(dtype));
    Tensor a = Tensor::Randn({197, 37}, 23), b = Tensor::Randn({197, 37}, 24), bt = Tensor::Randn({37, 197}, 25);
    if (dtype == DType::kBF16) a = RoundedToBf16(a), b = RoundedToBf16(b), bt = RoundedToBf16(bt);
    Tensor on_gpu = a.ToDevice(Gpu()).To(dtype);
    ops::AddInPlace(on_gpu, b.ToDevice(Gpu()).To(dtype), 0.5);
    ops::AddInPlace(on_gpu, ops::Transpose(bt.ToDevice(Gpu()).To(dtype), 0, 1), -2.0);  // a strided source
    const Tensor want = ops::Add(ops::Add(a.To(DType::kF64), ops::Scale(b.To(DType::kF64), 0.5)),
                                 ops::Scale(ops::Transpose(bt.To(DType::kF64), 0, 1), -2.0));
    // bf16: each of the two updates rounds the accumulator once.
    EXPECT_GPU_CLOSE(on_gpu.ToDevice(Device::CPU()), want, dtype == DType::kF32 ? 1e-6 : 3 * kBf16Unit);
  }
}

TEST_F(BinaryGpu, MixedDevicesAreRefused) {
  const Tensor host = Tensor::Randn({3, 37}, 26);
  const Tensor device = host.ToDevice(Gpu());
  EXPECT_THROW(ops::Add(host, device), Error);
  EXPECT_THROW(ops::Mul(device, host), Error);
  Tensor acc = device.Clone();
  EXPECT_THROW(ops::AddInPlace(acc, host), Error);
}

}  // namespace
}  // namespace vfm

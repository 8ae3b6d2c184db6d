// Bicubic resize on the GPU (kernels/cuda/resize_bicubic.cu through ops::ResizeBicubic) against the
// CPU op: forward and the gathered backward, f32 and bf16, up- and down-sampling, non-square grids,
// extreme ratios (a 1-wide input, 2 -> 17) where taps clamp at the borders, and determinism.
#include <memory>

#include "autograd/ops.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::GradsOf;
using testing::OnGpu;
using testing::kBf16Unit;
using testing::RoundedToBf16;

class ResizeBicubicGpu : public testing::GpuTest {};

struct Case {
  int64_t B, h, w, H, W, D;
};
const Case kCases[] = {
    {1, 14, 14, 16, 16, 768},  // pos-embed 224 -> 256 crops
    {2, 14, 14, 6, 6, 37},     // pos-embed for 96 local crops
    {2, 7, 5, 13, 3, 100},     // non-square, up in one axis, down in the other
    {1, 2, 3, 17, 11, 3},      // strong upsampling: every input cell feeds many outputs
    {1, 1, 4, 3, 9, 5},        // a 1-high input: all vertical taps clamp to row 0
    {3, 37, 23, 5, 4, 8},      // strong downsampling
};

void CheckOp(const Case& c, DType dtype, double tol) {
  SCOPED_TRACE(::testing::Message() << "[" << c.B << ", " << c.h << ", " << c.w << ", " << c.D << "] -> " << c.H
                                    << "x" << c.W << " " << DTypeName(dtype));
  const bool bf = dtype == DType::kBF16;
  auto prepare = [&](const Tensor& t) { return bf ? RoundedToBf16(t) : t; };
  Tensor x = prepare(Tensor::Randn({c.B, c.h, c.w, c.D}, 1));
  const Tensor g = prepare(Tensor::Randn({c.B, c.H, c.W, c.D}, 2));
  Tensor xg = OnGpu(x, dtype);
  x.set_requires_grad(true);
  xg.set_requires_grad(true);
  const Tensor want = ops::ResizeBicubic(x, c.H, c.W), got = ops::ResizeBicubic(xg, c.H, c.W);
  EXPECT_TRUE(got.device() == Device::CUDA(0));
  EXPECT_EQ(got.dtype(), dtype);
  EXPECT_EQ(got.shape(), want.shape());
  EXPECT_GPU_CLOSE(got.ToDevice(Device::CPU()), want, tol);
  const std::vector<Tensor> want_grads = GradsOf(want, g), got_grads = GradsOf(got, OnGpu(g, dtype));
  ASSERT_EQ(got_grads.size(), 1u);
  ASSERT_EQ(want_grads.size(), 1u);
  EXPECT_TRUE(got_grads[0].device() == Device::CUDA(0));
  EXPECT_EQ(got_grads[0].shape(), x.shape());
  EXPECT_GPU_CLOSE(got_grads[0].ToDevice(Device::CPU()), want_grads[0], tol);
}

// f32: same weights (computed in double, as on the host); the backward sums in a different order
// (gathered per input cell, clamped taps merged): 1e-5 relative.
TEST_F(ResizeBicubicGpu, F32MatchesHost) {
  for (const Case& c : kCases) CheckOp(c, DType::kF32, 1e-5);
}

// bf16: same rounded inputs, fp32 sums, one output rounding: 2 units.
TEST_F(ResizeBicubicGpu, Bf16MatchesHost) {
  for (const Case& c : kCases) CheckOp(c, DType::kBF16, 2 * kBf16Unit);
}

TEST_F(ResizeBicubicGpu, BackwardIsDeterministic) {
  Tensor x = OnGpu(Tensor::Randn({1, 14, 14, 768}, 3), DType::kF32);
  x.set_requires_grad(true);
  const Tensor y = ops::ResizeBicubic(x, 37, 37);
  const Tensor g = OnGpu(Tensor::Randn({1, 37, 37, 768}, 4), DType::kF32);
  const std::vector<Tensor> a = GradsOf(y, g), b = GradsOf(y, g);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].ToVector(), b[0].ToVector());
}

}  // namespace
}  // namespace vfm

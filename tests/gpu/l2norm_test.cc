// L2Normalize on the GPU (kernels/cuda/l2norm.cu through ops::L2Normalize) against the CPU op:
// forward and backward, f32 and bf16, odd widths and the iBOT head's 256-wide bottleneck, and rows
// below eps (the clamped branch).
#include <memory>

#include "autograd/ops.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::GradsOf;
using testing::OnGpu;
using testing::kBf16Unit;
using testing::RoundedToBf16;

class L2NormalizeGpu : public testing::GpuTest {};

void CheckOp(const Tensor& x_in, double eps, DType dtype, double fwd_tol, double bwd_tol) {
  SCOPED_TRACE(::testing::Message() << ShapeToString(x_in.shape()) << " eps " << eps << " " << DTypeName(dtype));
  const bool bf = dtype == DType::kBF16;
  Tensor x = bf ? RoundedToBf16(x_in) : x_in.Clone();
  const Tensor g0 = Tensor::Randn(x.shape(), 99);
  const Tensor g = bf ? RoundedToBf16(g0) : g0;
  Tensor xg = OnGpu(x, dtype);
  x.set_requires_grad(true);
  xg.set_requires_grad(true);
  const Tensor want = ops::L2Normalize(x, eps), got = ops::L2Normalize(xg, eps);
  EXPECT_TRUE(got.device() == Device::CUDA(0));
  EXPECT_EQ(got.dtype(), dtype);
  EXPECT_GPU_CLOSE(got.ToDevice(Device::CPU()), want, fwd_tol);
  const std::vector<Tensor> want_grads = GradsOf(want, g), got_grads = GradsOf(got, OnGpu(g, dtype));
  ASSERT_EQ(got_grads.size(), 1u);
  ASSERT_EQ(want_grads.size(), 1u);
  EXPECT_TRUE(got_grads[0].device() == Device::CUDA(0));
  EXPECT_EQ(got_grads[0].dtype(), dtype);
  EXPECT_GPU_CLOSE(got_grads[0].ToDevice(Device::CPU()), want_grads[0], bwd_tol);
}

const int64_t kWidths[] = {3, 37, 100, 256, 768, 2048};

// f32: only the order of the fp32 sums differs (the host sums in double): 1e-5 relative.
TEST_F(L2NormalizeGpu, F32MatchesHost) {
  for (int64_t C : kWidths) CheckOp(Tensor::Randn({3, 197, C}, uint64_t(C)), 1e-12, DType::kF32, 1e-5, 1e-5);
}

// bf16 forward: same rounded inputs, one output rounding: 2 units. The backward reads the saved
// bf16 output (one more rounding than the host's f32 one) and rounds dx: 4 units.
TEST_F(L2NormalizeGpu, Bf16MatchesHost) {
  for (int64_t C : kWidths)
    CheckOp(Tensor::Randn({3, 197, C}, uint64_t(C)), 1e-12, DType::kBF16, 2 * kBf16Unit, 4 * kBf16Unit);
}

// Rows with ||x|| < eps are divided by eps and their gradient is dy / eps (no projection).
TEST_F(L2NormalizeGpu, ClampedRows) {
  Tensor x = ops::Scale(Tensor::Randn({4, 37}, 5), 1e-9);
  CheckOp(x, 1e-6, DType::kF32, 1e-5, 1e-5);
  // A mix: the first rows clamped, the others not.
  Tensor mixed = Tensor::Randn({6, 37}, 6);
  mixed.View({3, 37}, mixed.strides(), 0).Fill(1e-9);
  CheckOp(mixed, 1e-6, DType::kF32, 1e-5, 1e-5);
}

}  // namespace
}  // namespace vfm

// DropPath / DropPathAdd on the GPU (kernels/cuda/drop_path.cu through autograd/ops/drop_path.cc) against
// the CPU, forward and backward, f32 and bf16, aligned and misaligned.
#include <cstdint>
#include <vector>

#include "autograd/ops.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::GradsOf;
using testing::MisalignedOnGpu;
using testing::OnGpu;
using testing::kBf16Unit;
using testing::RoundedToBf16;
using testing::Seen;

class DropPathGpu : public testing::GpuTest {};

// DropPath: dropped samples give 0, kept ones x / keep_prob; the backward scales dy the same way.
// f32: one product each side (1e-6 relative); bf16: the same product rounded once more (2 units).
// Width 768 runs the packed kernel (rows of whole 16-byte packs), 37 the per-element one.
TEST_F(DropPathGpu, MatchesHost) {
  const std::vector<uint8_t> keep = {1, 0, 1, 1, 0};
  const double keep_prob = 0.9;
  for (int64_t D : {37, 768})
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      SCOPED_TRACE(::testing::Message() << DTypeName(dtype) << " width " << D);
      const bool bf = dtype == DType::kBF16;
      Tensor x = Tensor::Randn({5, 197, D}, 30);
      Tensor g = Tensor::Randn({5, 197, D}, 31);
      if (bf) {
        x = RoundedToBf16(x);
        g = RoundedToBf16(g);
      }
      const double tol = bf ? 2 * kBf16Unit : 1e-6;
      Tensor xg = OnGpu(x, dtype);
      x.set_requires_grad(true);
      xg.set_requires_grad(true);
      const Tensor want = ops::DropPath(x, keep, keep_prob), got = ops::DropPath(xg, keep, keep_prob);
      EXPECT_TRUE(got.device() == Device::CUDA(0));
      EXPECT_EQ(got.dtype(), dtype);
      EXPECT_EQ(got.shape(), want.shape());
      EXPECT_GPU_CLOSE(got.ToDevice(Device::CPU()), want, tol);
      const std::vector<Tensor> want_grads = GradsOf(want, g), got_grads = GradsOf(got, OnGpu(g, dtype));
      ASSERT_GE(want_grads.size(), 1u);  // the host op is Mul(x, scale): gradients for x (and none for scale)
      ASSERT_EQ(got_grads.size(), 1u);
      EXPECT_TRUE(got_grads[0].device() == Device::CUDA(0));
      EXPECT_GPU_CLOSE(got_grads[0].ToDevice(Device::CPU()), want_grads[0], tol);
      // Dropped samples are exactly zero.
      const std::vector<float> y = got.ToVector();
      const size_t per_sample = size_t(197 * D);
      for (size_t i = per_sample; i < 2 * per_sample; ++i) ASSERT_EQ(y[i], 0.0f) << i;
    }
  // The residual form: residual + DropPath(x) in one kernel (the residual's gradient is g itself).
  for (int64_t D : {37, 768})
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      SCOPED_TRACE(::testing::Message() << "drop_path_add " << DTypeName(dtype) << " width " << D);
      const Tensor r = Seen(Tensor::Randn({5, 197, D}, 33), dtype), x = Seen(Tensor::Randn({5, 197, D}, 34), dtype);
      const Tensor g = Seen(Tensor::Randn({5, 197, D}, 35), dtype);
      Tensor rh = r.Clone(), xh = x.Clone(), rg = OnGpu(r, dtype), xg = OnGpu(x, dtype);
      for (Tensor* t : {&rh, &xh, &rg, &xg}) t->set_requires_grad(true);
      const Tensor want = ops::DropPathAdd(rh, xh, keep, keep_prob), got = ops::DropPathAdd(rg, xg, keep, keep_prob);
      // bf16: the host's f32 sum of the same inputs, the device's rounded once: 2 units.
      const double tol = dtype == DType::kBF16 ? 2 * kBf16Unit : 1e-6;
      EXPECT_GPU_CLOSE(got.ToDevice(Device::CPU()), want, tol);
      const std::vector<Tensor> got_grads = GradsOf(got, OnGpu(g, dtype));
      ASSERT_EQ(got_grads.size(), 2u);
      EXPECT_EQ(got_grads[0].ToVector(), OnGpu(g, dtype).ToVector());  // the residual's: g itself
      EXPECT_GPU_CLOSE(got_grads[1].ToDevice(Device::CPU()), Seen(ops::DropPath(g, keep, keep_prob), dtype), tol);
    }
  // Whole packs per sample but a view one element into its buffer: the per-element kernel.
  const Tensor x = RoundedToBf16(Tensor::Randn({5, 197, 768}, 32));
  const Tensor got = ops::DropPath(MisalignedOnGpu(x, DType::kBF16), keep, keep_prob);
  EXPECT_GPU_CLOSE(got.ToDevice(Device::CPU()), ops::DropPath(x, keep, keep_prob), 2 * kBf16Unit);
  const Tensor residual = RoundedToBf16(Tensor::Randn({5, 197, 768}, 36));
  const Tensor got_add =
      ops::DropPathAdd(MisalignedOnGpu(residual, DType::kBF16), OnGpu(x, DType::kBF16), keep, keep_prob);
  EXPECT_GPU_CLOSE(got_add.ToDevice(Device::CPU()), ops::DropPathAdd(residual, x, keep, keep_prob), 2 * kBf16Unit);
}
}  // namespace
}  // namespace vfm

// LayerNorm on the GPU (kernels/cuda/layernorm.cu through ops::LayerNorm) against the CPU op: forward,
// the op's backward (dx, dw, db), f32 and bf16, odd widths, many rows (the chunked dw/db reduction),
// and run-to-run determinism of dw/db.
#include <memory>

#include "autograd/ops.h"
#include "kernels/cuda/layernorm.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::GradsOf;
using testing::MisalignedOnGpu;
using testing::OnGpu;
using testing::kBf16Unit;
using testing::RoundedToBf16;

class LayerNormGpu : public testing::GpuTest {};

// ops::LayerNorm on [batch, tokens, C] on the GPU in `dtype` against the host op on the same
// (bf16-rounded where dtype is bf16) inputs, forward and backward. Widths that are multiples of 8 up to
// 1024 run the packed kernels (1, 2 or 4 packs per lane for C <= 256, 512, 1024); others, wider rows
// and `misaligned` inputs the per-element ones (wider rows still take the packed dw/db partials).
void CheckAgainstHost(int64_t batch, int64_t tokens, int64_t C, DType dtype, double tol, bool misaligned = false) {
  SCOPED_TRACE(::testing::Message() << "[" << batch << ", " << tokens << ", " << C << "] " << DTypeName(dtype)
                                    << (misaligned ? " misaligned" : ""));
  const bool bf = dtype == DType::kBF16;
  auto prepare = [&](const Tensor& t) { return bf ? RoundedToBf16(t) : t; };
  // A non-zero mean and unequal scales, as real activations have.
  Tensor x = prepare(ops::AddScalar(ops::Scale(Tensor::Randn({batch, tokens, C}, 1), 2.0), 0.75));
  Tensor w = prepare(ops::AddScalar(Tensor::Randn({C}, 2), 1.0));
  Tensor b = prepare(Tensor::Randn({C}, 3));
  const Tensor g = prepare(Tensor::Randn({batch, tokens, C}, 4));

  Tensor xg = misaligned ? MisalignedOnGpu(x, dtype) : OnGpu(x, dtype), wg = OnGpu(w, dtype), bg = OnGpu(b, dtype);
  for (Tensor* t : {&x, &w, &b, &xg, &wg, &bg}) t->set_requires_grad(true);
  const Tensor want = ops::LayerNorm(x, w, b, 1e-6);
  const Tensor got = ops::LayerNorm(xg, wg, bg, 1e-6);
  EXPECT_TRUE(got.device() == Device::CUDA(0));
  EXPECT_EQ(got.dtype(), dtype);
  EXPECT_EQ(got.shape(), want.shape());
  EXPECT_GPU_CLOSE(got.ToDevice(Device::CPU()), want, tol);

  const std::vector<Tensor> want_grads = GradsOf(want, g);
  const std::vector<Tensor> got_grads = GradsOf(got, OnGpu(g, dtype));
  ASSERT_EQ(got_grads.size(), 3u);
  ASSERT_EQ(want_grads.size(), 3u);
  const char* names[] = {"dx", "dw", "db"};
  for (size_t k = 0; k < 3; ++k) {
    SCOPED_TRACE(names[k]);
    EXPECT_TRUE(got_grads[k].device() == Device::CUDA(0));
    EXPECT_EQ(got_grads[k].dtype(), dtype);
    EXPECT_EQ(got_grads[k].shape(), want_grads[k].shape());
    EXPECT_GPU_CLOSE(got_grads[k].ToDevice(Device::CPU()), want_grads[k], tol);
  }
}

// f32: only the order of fp32 sums differs from the host (which sums in double): 1e-5 relative.
TEST_F(LayerNormGpu, F32MatchesHost) {
  for (int64_t C : {3, 37, 100, 192, 256, 384, 512, 768, 1024, 2048})
    CheckAgainstHost(3, 197, C, DType::kF32, 1e-5);
  CheckAgainstHost(2, 37, 197, DType::kF32, 1e-5);
  CheckAgainstHost(3, 197, 768, DType::kF32, 1e-5, /*misaligned=*/true);
}

// bf16 in and out, fp32 inside: the host reference runs on the same rounded inputs, so the outputs
// differ by their own rounding (half a unit) plus fp32 noise: 2 units.
TEST_F(LayerNormGpu, Bf16MatchesHost) {
  for (int64_t C : {3, 37, 100, 192, 256, 384, 512, 768, 1024, 2048})
    CheckAgainstHost(3, 197, C, DType::kBF16, 2 * kBf16Unit);
  CheckAgainstHost(3, 197, 768, DType::kBF16, 2 * kBf16Unit, /*misaligned=*/true);
}

// More rows than kMaxChunks * 64: every chunk of the dw/db reduction holds several row groups.
TEST_F(LayerNormGpu, ManyRows) {
  CheckAgainstHost(1, 40000, 37, DType::kF32, 1e-5);
  CheckAgainstHost(64, 197, 100, DType::kBF16, 2 * kBf16Unit);
  CheckAgainstHost(64, 197, 768, DType::kBF16, 2 * kBf16Unit);
}

TEST_F(LayerNormGpu, BackwardIsDeterministic) {
  for (int64_t C : {100, 768}) {  // per-element and packed kernels
    SCOPED_TRACE(C);
    const Tensor x = OnGpu(Tensor::Randn({64, 197, C}, 5), DType::kF32);
    Tensor w = OnGpu(Tensor::Randn({C}, 6), DType::kF32), b = OnGpu(Tensor::Randn({C}, 7), DType::kF32);
    w.set_requires_grad(true);
    b.set_requires_grad(true);
    const Tensor g = OnGpu(Tensor::Randn({64, 197, C}, 8), DType::kF32);
    const Tensor y = ops::LayerNorm(x, w, b, 1e-6);
    const std::vector<Tensor> first = GradsOf(y, g), second = GradsOf(y, g);
    ASSERT_EQ(first.size(), 3u);
    ASSERT_EQ(second.size(), 3u);
    EXPECT_EQ(first[1].ToVector(), second[1].ToVector());
    EXPECT_EQ(first[2].ToVector(), second[2].ToVector());
    EXPECT_EQ(first[0].ToVector(), second[0].ToVector());
  }
}

// The kernel adds into dw / db (like the CPU kernel) rather than overwriting them.
TEST_F(LayerNormGpu, KernelAccumulatesWeightGradients) {
  const int64_t rows = 197, C = 37;
  const Tensor x = OnGpu(Tensor::Randn({rows, C}, 9), DType::kF32);
  const Tensor w = OnGpu(Tensor::Randn({C}, 10), DType::kF32), b = OnGpu(Tensor::Randn({C}, 11), DType::kF32);
  const Tensor dy = OnGpu(Tensor::Randn({rows, C}, 12), DType::kF32);
  const Device gpu = Device::CUDA(0);
  Tensor y = Tensor::Empty({rows, C}, DType::kF32, gpu);
  Tensor mean = Tensor::Empty({rows}, DType::kF32, gpu), rstd = Tensor::Empty({rows}, DType::kF32, gpu);
  cuda::LayerNormForward<float>(x.data<float>(), w.data<float>(), b.data<float>(), y.data<float>(), mean.data<float>(),
                                rstd.data<float>(), rows, C, 1e-6);
  Tensor workspace = Tensor::Empty({cuda::LayerNormBackwardWorkspace(rows, C)}, DType::kF32, gpu);
  Tensor dx = Tensor::Empty({rows, C}, DType::kF32, gpu);
  Tensor dw0 = Tensor::Zeros({C}, DType::kF32, gpu), db0 = Tensor::Zeros({C}, DType::kF32, gpu);
  Tensor dw1 = Tensor::Full({C}, 1.0, DType::kF32, gpu), db1 = Tensor::Full({C}, 1.0, DType::kF32, gpu);
  cuda::LayerNormBackward<float>(dy.data<float>(), x.data<float>(), w.data<float>(), mean.data<float>(),
                                 rstd.data<float>(), dx.data<float>(), dw0.data<float>(), db0.data<float>(), rows, C,
                                 workspace.data<float>());
  cuda::LayerNormBackward<float>(dy.data<float>(), x.data<float>(), w.data<float>(), mean.data<float>(),
                                 rstd.data<float>(), dx.data<float>(), dw1.data<float>(), db1.data<float>(), rows, C,
                                 workspace.data<float>());
  const std::vector<float> a0 = dw0.ToVector(), a1 = dw1.ToVector(), c0 = db0.ToVector(), c1 = db1.ToVector();
  for (int64_t c = 0; c < C; ++c) {
    EXPECT_EQ(a1[size_t(c)], 1.0f + a0[size_t(c)]) << c;
    EXPECT_EQ(c1[size_t(c)], 1.0f + c0[size_t(c)]) << c;
  }
}

// ops::LayerNormMixed: bf16 input and values, f32 master parameters whose gradients are the kernel's fp32
// sums unrounded. Against the f32 host op on the same rounded values: y and dx in bf16 units, dw and db
// as the f32 test (only the summation order differs).
TEST_F(LayerNormGpu, MixedGivesF32ParameterGradients) {
  for (int64_t C : {37, 768}) {
    SCOPED_TRACE(C);
    const DType bf = DType::kBF16;
    Tensor x = RoundedToBf16(Tensor::Randn({3, 197, C}, 21)), w = RoundedToBf16(Tensor::Randn({C}, 22));
    Tensor b = RoundedToBf16(Tensor::Randn({C}, 23));
    const Tensor g = RoundedToBf16(Tensor::Randn({3, 197, C}, 24));
    Tensor xg = OnGpu(x, bf), wg = OnGpu(w, DType::kF32), bg = OnGpu(b, DType::kF32);
    for (Tensor* t : {&x, &w, &b, &xg, &wg, &bg}) t->set_requires_grad(true);
    const Tensor want = ops::LayerNorm(x, w, b, 1e-6);
    const Tensor got = ops::LayerNormMixed(xg, wg, wg.To(bf), bg, bg.To(bf), 1e-6);
    EXPECT_EQ(got.dtype(), bf);
    EXPECT_GPU_CLOSE(got.ToDevice(Device::CPU()), want, 2 * kBf16Unit);
    const std::vector<Tensor> want_grads = GradsOf(want, g), got_grads = GradsOf(got, OnGpu(g, bf));
    ASSERT_EQ(got_grads.size(), 3u);
    EXPECT_EQ(got_grads[0].dtype(), bf);
    EXPECT_EQ(got_grads[1].dtype(), DType::kF32);
    EXPECT_EQ(got_grads[2].dtype(), DType::kF32);
    EXPECT_GPU_CLOSE(got_grads[0].ToDevice(Device::CPU()), want_grads[0], 2 * kBf16Unit);
    EXPECT_GPU_CLOSE(got_grads[1].ToDevice(Device::CPU()), want_grads[1], 1e-5);
    EXPECT_GPU_CLOSE(got_grads[2].ToDevice(Device::CPU()), want_grads[2], 1e-5);
  }
}

}  // namespace
}  // namespace vfm

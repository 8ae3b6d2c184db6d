// Patch embedding on the GPU: the patchify permutation (kernels/cuda/patch_embed.h) must equal the CPU's
// exactly (pure data movement, both dtypes), and ops::PatchEmbed's forward and gradients (image, weight,
// bias; through patchify, the weight reshape and Linear) must match the CPU op on the same inputs.
// Tolerances as for GEMMs (tests/gpu/gemm_test.cc): f32 1e-5 (summation order only); bf16 2 units (the
// output rounding of a fp32-accumulated product of the same rounded inputs).
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "kernels/cpu/patch_embed.h"
#include "kernels/cuda/patch_embed.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::OnGpu;
using testing::OnHost;
using testing::Seen;
using testing::GpuTest;
using testing::kBf16Unit;
using testing::RoundedToBf16;

struct Case {
  int64_t B, C, H, W, p, D;
  std::string Name() const {
    return "img [" + std::to_string(B) + ", " + std::to_string(C) + ", " + std::to_string(H) + ", " +
           std::to_string(W) + "] p=" + std::to_string(p) + " D=" + std::to_string(D);
  }
};

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases{{2, 3, 224, 224, 16, 768}, {2, 1, 48, 80, 16, 37}, {3, 3, 42, 28, 14, 100},
                                       {1, 2, 5, 5, 1, 3}};
  return cases;
}

template <typename T>
void CheckPermutation(const Case& c) {
  SCOPED_TRACE(c.Name());
  const DType dt = DTypeOf<T>();
  const int64_t rows = c.B * (c.H / c.p) * (c.W / c.p), row = c.C * c.p * c.p;
  // Host reference in f32 on values that bf16 represents exactly, so both dtypes must match bit for bit.
  const Tensor img = RoundedToBf16(Tensor::Randn({c.B, c.C, c.H, c.W}, 7));
  Tensor cols = Tensor::Empty({rows, row});
  cpu::Patchify<float>(img.data<float>(), cols.data<float>(), c.B, c.C, c.H, c.W, c.p);
  const Tensor g_img = OnGpu(img, dt);
  Tensor g_cols = Tensor::Empty({rows, row}, dt, Device::CUDA(0));
  cuda::Patchify<T>(g_img.data<T>(), g_cols.data<T>(), c.B, c.C, c.H, c.W, c.p);
  EXPECT_EQ(OnHost(g_cols).ToVector(), cols.ToVector());
  // Unpatchify inverts it; a NaN fill shows any pixel left unwritten.
  Tensor back = Tensor::Full(img.shape(), NAN, dt, Device::CUDA(0));
  cuda::Unpatchify<T>(g_cols.data<T>(), back.data<T>(), c.B, c.C, c.H, c.W, c.p);
  EXPECT_EQ(OnHost(back).ToVector(), img.ToVector());
}

TEST_F(GpuTest, PatchifyIsTheCpuPermutation) {
  for (const Case& c : Cases()) {
    CheckPermutation<float>(c);
    CheckPermutation<bf16>(c);
  }
}

void CheckPatchEmbed(const Case& c, DType dt) {
  SCOPED_TRACE(c.Name() + " " + DTypeName(dt));
  const Tensor img = Seen(Tensor::Randn({c.B, c.C, c.H, c.W}, 11), dt);
  const Tensor w = Seen(Tensor::Randn({c.D, c.C, c.p, c.p}, 12), dt), b = Seen(Tensor::Randn({c.D}, 13), dt);
  const Tensor g = Seen(Tensor::Randn({c.B, (c.H / c.p) * (c.W / c.p), c.D}, 14), dt);

  // Backward by hand through the op's graph: Linear's node, then patchify's and the weight reshape's.
  auto grads = [](const Tensor& out, const Tensor& grad) {
    NoGradGuard no_grad;
    const auto& linear = out.grad_fn();
    std::vector<Tensor> gl = linear->backward(grad, linear->needs);  // d cols, d w2d, d b
    const auto& patchify = linear->inputs[0].grad_fn();
    const auto& reshape = linear->inputs[1].grad_fn();
    const Tensor dimg = patchify->backward(gl[0], patchify->needs)[0];
    const Tensor dw = reshape->backward(gl[1], reshape->needs)[0];
    return std::vector<Tensor>{dimg, dw, gl[2]};
  };

  Tensor ci = img.Clone(), cw = w.Clone(), cb = b.Clone();
  ci.set_requires_grad(true);
  cw.set_requires_grad(true);
  cb.set_requires_grad(true);
  const Tensor want = ops::PatchEmbed(ci, cw, cb, c.p);
  const std::vector<Tensor> want_grads = grads(want, g);

  Tensor gi = OnGpu(img, dt), gw = OnGpu(w, dt), gb = OnGpu(b, dt);
  gi.set_requires_grad(true);
  gw.set_requires_grad(true);
  gb.set_requires_grad(true);
  const Tensor got = ops::PatchEmbed(gi, gw, gb, c.p);
  EXPECT_TRUE(got.device() == Device::CUDA(0) && got.dtype() == dt);
  const std::vector<Tensor> got_grads = grads(got, OnGpu(g, dt));
  const double tol = dt == DType::kBF16 ? 2 * kBf16Unit : 1e-5;
  EXPECT_GPU_CLOSE(OnHost(got), want, tol);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE("gradient " + std::to_string(i));
    EXPECT_EQ(got_grads[i].shape(), want_grads[i].shape());
    EXPECT_GPU_CLOSE(OnHost(got_grads[i]), want_grads[i], tol);
  }
}

TEST_F(GpuTest, PatchEmbedOpMatchesCpu) {
  for (const Case& c : Cases()) {
    CheckPatchEmbed(c, DType::kF32);
    CheckPatchEmbed(c, DType::kBF16);
  }
}

}  // namespace
}  // namespace vfm

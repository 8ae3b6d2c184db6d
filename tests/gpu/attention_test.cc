// Multi-head self-attention on the GPU (kernels/cuda/attention.h through ops::Attention) against the CPU
// op: forward and the gradient of the packed qkv, f32 and bf16, at N = 1, 37, 197, 257 tokens, 3 and 12
// heads, head dims 64 and 32; plus the kernel's logsumexp against the CPU kernel's.
// Tolerances: f32 differs from the CPU only by summation order and expf/logf rounding: 2e-5 forward,
// 1e-4 backward (dS = P (dP - D) subtracts nearby values). bf16 runs on the same bf16-rounded inputs
// with fp32 scores and accumulation but stores P (and dS) in bf16 as the GEMM operands, so each
// output carries those roundings (half a unit per term, averaged over N terms) plus its own: 4 units
// forward, 8 units for the gradients (two roundings in a row: dS, then dQ/dK).
#include <cmath>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "kernels/cpu/attention.h"
#include "kernels/cuda/attention.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::GradsOf;
using testing::OnGpu;
using testing::OnHost;
using testing::Seen;
using testing::GpuTest;
using testing::kBf16Unit;
using testing::RoundedToBf16;

struct Case {
  int64_t B, N, H, D;
  std::string Name() const {
    return "B=" + std::to_string(B) + " N=" + std::to_string(N) + " H=" + std::to_string(H) + " D=" + std::to_string(D);
  }
};

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases{{2, 1, 3, 64},  {2, 37, 3, 64},  {2, 197, 12, 64}, {1, 257, 12, 64},
                                       {3, 37, 12, 32}, {2, 197, 3, 32}, {2, 257, 3, 32}};
  return cases;
}

void CheckAttention(const Case& c, DType dt) {
  SCOPED_TRACE(c.Name() + " " + DTypeName(dt));
  const double scale = 1.0 / std::sqrt(double(c.D));
  const int64_t C = c.H * c.D;
  const Tensor qkv = Seen(Tensor::Randn({c.B, c.N, 3 * C}, 1000 + c.N + c.H + c.D), dt);
  const Tensor dout = Seen(Tensor::Randn({c.B, c.N, C}, 2000 + c.N + c.H + c.D), dt);

  Tensor cq = qkv.Clone();
  cq.set_requires_grad(true);
  const Tensor want = ops::Attention(cq, c.H, scale);
  const Tensor want_grad = GradsOf(want, dout)[0];

  Tensor gq = OnGpu(qkv, dt);
  gq.set_requires_grad(true);
  const Tensor got = ops::Attention(gq, c.H, scale);
  EXPECT_TRUE(got.device() == Device::CUDA(0) && got.dtype() == dt);
  const Tensor got_grad = GradsOf(got, OnGpu(dout, dt))[0];
  EXPECT_TRUE(got_grad.device() == Device::CUDA(0) && got_grad.dtype() == dt);
  const bool bf = dt == DType::kBF16;
  EXPECT_GPU_CLOSE(OnHost(got), want, bf ? 4 * kBf16Unit : 2e-5);
  EXPECT_GPU_CLOSE(OnHost(got_grad), want_grad, bf ? 8 * kBf16Unit : 1e-4);
}

TEST_F(GpuTest, AttentionF32MatchesCpu) {
  for (const Case& c : Cases()) CheckAttention(c, DType::kF32);
}

TEST_F(GpuTest, AttentionBf16MatchesCpu) {
  for (const Case& c : Cases()) CheckAttention(c, DType::kBF16);
}

// The kernels directly: out and the saved logsumexp against cpu::AttentionForward, then the backward
// from the CPU's own out and lse (so only the backward kernels are compared).
TEST_F(GpuTest, AttentionKernelsMatchCpu) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.Name());
    const cpu::AttentionShape shape{c.B, c.N, c.H, c.D};
    const float scale = float(1.0 / std::sqrt(double(c.D)));
    const int64_t C = c.H * c.D;
    const Tensor qkv = Tensor::Randn({c.B, c.N, 3 * C}, 3000 + c.N);
    const Tensor dout = Tensor::Randn({c.B, c.N, C}, 4000 + c.N);
    Tensor out = Tensor::Empty({c.B, c.N, C}), lse = Tensor::Empty({c.B, c.H, c.N});
    Tensor dqkv = Tensor::Empty(qkv.shape());
    cpu::AttentionForward<float>(qkv.data<float>(), out.data<float>(), lse.data<float>(), shape, scale);
    cpu::AttentionBackward<float>(qkv.data<float>(), out.data<float>(), dout.data<float>(), lse.data<float>(),
                                  dqkv.data<float>(), shape, scale);

    const Device gpu = Device::CUDA(0);
    const Tensor g_qkv = OnGpu(qkv, DType::kF32), g_dout = OnGpu(dout, DType::kF32);
    Tensor g_out = Tensor::Empty(out.shape(), DType::kF32, gpu), g_lse = Tensor::Empty(lse.shape(), DType::kF32, gpu);
    Tensor scratch = Tensor::Empty({int64_t(cuda::AttentionForwardScratchBytes<float>(shape))}, DType::kU8, gpu);
    cuda::AttentionForward<float>(g_qkv.data<float>(), g_out.data<float>(), g_lse.data<float>(), shape, scale,
                                  scratch.raw_data());
    EXPECT_GPU_CLOSE(OnHost(g_out), out, 2e-5);
    EXPECT_GPU_CLOSE(OnHost(g_lse), lse, 1e-5);

    const Tensor c_out = OnGpu(out, DType::kF32), c_lse = OnGpu(lse, DType::kF32);
    Tensor g_dqkv = Tensor::Full(qkv.shape(), NAN, DType::kF32, gpu);  // every element must be written
    Tensor bscratch = Tensor::Empty({int64_t(cuda::AttentionBackwardScratchBytes<float>(shape))}, DType::kU8, gpu);
    cuda::AttentionBackward<float>(g_qkv.data<float>(), c_out.data<float>(), g_dout.data<float>(), c_lse.data<float>(),
                                   g_dqkv.data<float>(), shape, scale, bscratch.raw_data());
    EXPECT_GPU_CLOSE(OnHost(g_dqkv), dqkv, 1e-4);
  }
}

}  // namespace
}  // namespace vfm

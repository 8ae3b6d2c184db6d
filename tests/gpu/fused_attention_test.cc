// The fused bf16 attention kernels (kernels/cuda/fused_attention.h) against the CPU reference
// cpu::AttentionForward / AttentionBackward run in f32 on the same bf16-rounded inputs: N = 1, 37, 64,
// 197, 257, 785, 1025 tokens (one partial tile, exact tiles, many tiles with a partial last one), 12 and
// 3 heads, head dim 64 (and 32), plus a peaky softmax (scale 0.5) for the online-softmax rescaling.
// Tolerances (kBf16Unit = one bf16 rounding; the error measure is relative to |want| + RMS(want)):
// - out: 4 units. Scores and sums are fp32; P is rounded to bf16 as the operand of P V (half a unit per
//   term, partly averaging out) and out itself is rounded once.
// - lse: 1e-5. fp32 throughout; only summation order and the ex2/log2 approximations differ.
// - dQ, dK, dV: 8 units. The backward kernels get the CPU's out (rounded to bf16, as a bf16 forward
//   would store it) and lse, so the comparison isolates them; P and dS are rounded to bf16 as mma
//   operands and the result once more: two roundings in a row, as in tests/gpu/attention_test.cc.
//   At N = 1 dQ and dK vanish (dS = P (dP - D) with P = 1 and dP = D), so they are only checked as
//   part of the whole dqkv (whose RMS is dV's).
// - End to end (the GPU's own bf16 out and lse into the backward): 8 units at scale 1/sqrt(D); D_i then
//   comes from the bf16 out, which costs a little more where the softmax is peaky, so only there.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tensor.h"
#include "kernels/cpu/attention.h"
#include "kernels/cuda/fused_attention.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::kBf16Unit;
using testing::RoundedToBf16;

class FusedAttentionGpu : public testing::GpuTest {};

struct Case {
  int64_t B, N, H, D;
  double scale = 0;  // 0: 1/sqrt(D)
  float Scale() const { return float(scale > 0 ? scale : 1.0 / std::sqrt(double(D))); }
  std::string Name() const {
    return "B=" + std::to_string(B) + " N=" + std::to_string(N) + " H=" + std::to_string(H) + " D=" +
           std::to_string(D) + " scale=" + std::to_string(Scale());
  }
};

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases{
      {2, 1, 12, 64},   {2, 37, 12, 64},  {2, 64, 12, 64},    {2, 197, 12, 64}, {2, 257, 12, 64},
      {2, 785, 12, 64}, {2, 1025, 12, 64}, {3, 37, 3, 64},    {2, 197, 3, 64},  {2, 257, 3, 64, 0.5},
      {2, 37, 3, 32},   {2, 197, 12, 32},  {1, 1025, 3, 32},
  };
  return cases;
}

Device Gpu() { return Device::CUDA(0); }
Tensor Bf16OnGpu(const Tensor& x) { return x.ToDevice(Gpu()).To(DType::kBF16); }
Tensor OnHost(const Tensor& x) { return x.ToDevice(Device::CPU()); }

// Slot s (0 = q, 1 = k, 2 = v) of a packed [B, N, 3*C] tensor as a [B, N, C] view.
Tensor Slot(const Tensor& packed, int64_t s) {
  const int64_t B = packed.size(0), N = packed.size(1), C = packed.size(2) / 3;
  return packed.View({B, N, C}, {N * 3 * C, 3 * C, 1}, packed.offset() + s * C);
}

int64_t CountNan(const Tensor& x) {
  int64_t n = 0;
  for (float v : x.ToVector()) n += std::isnan(v) ? 1 : 0;
  return n;
}

Tensor Scratch(const Case& c) {
  const size_t bytes = cuda::FusedAttentionBackwardScratchBytes(c.B, c.N, c.H);
  return Tensor::Empty({int64_t(std::max<size_t>(bytes, 1))}, DType::kU8, Gpu());
}

// The CPU reference's inputs and results, in f32 on bf16-rounded inputs.
struct Reference {
  Tensor qkv, dout, out, lse, out_b, dqkv;  // out_b: out rounded to bf16 (the backward's input)
};

Reference RunCpu(const Case& c, uint64_t seed) {
  const int64_t C = c.H * c.D;
  const cpu::AttentionShape shape{c.B, c.N, c.H, c.D};
  Reference r;
  r.qkv = RoundedToBf16(Tensor::Randn({c.B, c.N, 3 * C}, seed));
  r.dout = RoundedToBf16(Tensor::Randn({c.B, c.N, C}, seed + 1));
  r.out = Tensor::Empty({c.B, c.N, C});
  r.lse = Tensor::Empty({c.B, c.H, c.N});
  cpu::AttentionForward<float>(r.qkv.data<float>(), r.out.data<float>(), r.lse.data<float>(), shape, c.Scale());
  r.out_b = RoundedToBf16(r.out);
  r.dqkv = Tensor::Empty(r.qkv.shape());
  cpu::AttentionBackward<float>(r.qkv.data<float>(), r.out_b.data<float>(), r.dout.data<float>(), r.lse.data<float>(),
                                r.dqkv.data<float>(), shape, c.Scale());
  return r;
}

// out and lse from the GPU forward; both prefilled with NaN, so an element left unwritten fails.
std::pair<Tensor, Tensor> GpuForward(const Case& c, const Tensor& g_qkv) {
  Tensor out = Tensor::Full({c.B, c.N, c.H * c.D}, NAN, DType::kBF16, Gpu());
  Tensor lse = Tensor::Full({c.B, c.H, c.N}, NAN, DType::kF32, Gpu());
  cuda::FusedAttentionForward(g_qkv.data<bf16>(), out.data<bf16>(), lse.data<float>(), c.B, c.N, c.H, c.D, c.Scale());
  return {out, lse};
}

// dqkv from the GPU backward, prefilled with NaN.
Tensor GpuBackward(const Case& c, const Tensor& g_qkv, const Tensor& g_out, const Tensor& g_dout,
                   const Tensor& g_lse) {
  Tensor dqkv = Tensor::Full(g_qkv.shape(), NAN, DType::kBF16, Gpu());
  const Tensor scratch = Scratch(c);
  cuda::FusedAttentionBackward(g_qkv.data<bf16>(), g_out.data<bf16>(), g_dout.data<bf16>(), g_lse.data<float>(),
                               dqkv.data<bf16>(), c.B, c.N, c.H, c.D, c.Scale(), scratch.raw_data());
  return dqkv;
}

void ExpectGradsClose(const Case& c, const Tensor& got, const Tensor& want, double tol) {
  EXPECT_GPU_CLOSE(got, want, tol);
  if (c.N == 1) return;  // dQ and dK vanish: see the top comment
  const char* names[3] = {"dQ", "dK", "dV"};
  for (int64_t s = 0; s < 3; ++s) {
    SCOPED_TRACE(names[s]);
    EXPECT_GPU_CLOSE(Slot(got, s), Slot(want, s), tol);
  }
}

TEST_F(FusedAttentionGpu, Supported) {
  EXPECT_TRUE(cuda::FusedAttentionSupported(64));
  EXPECT_TRUE(cuda::FusedAttentionSupported(32));
  EXPECT_FALSE(cuda::FusedAttentionSupported(48));
  EXPECT_FALSE(cuda::FusedAttentionSupported(128));
  const Tensor qkv = Tensor::Zeros({1, 4, 3 * 48}, DType::kBF16, Gpu());
  Tensor out = Tensor::Empty({1, 4, 48}, DType::kBF16, Gpu()), lse = Tensor::Empty({1, 1, 4}, DType::kF32, Gpu());
  EXPECT_THROW(cuda::FusedAttentionForward(qkv.data<bf16>(), out.data<bf16>(), lse.data<float>(), 1, 4, 1, 48, 0.1f),
               std::exception);
}

TEST_F(FusedAttentionGpu, ForwardMatchesCpu) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.Name());
    const Reference r = RunCpu(c, 100 + c.N + c.H + c.D);
    const auto [out, lse] = GpuForward(c, Bf16OnGpu(r.qkv));
    EXPECT_GPU_CLOSE(OnHost(out), r.out, 4 * kBf16Unit);
    EXPECT_GPU_CLOSE(OnHost(lse), r.lse, 1e-5);
  }
}

// The Hopper forward (TMA + wgmma) on an H100/H200, with the same tolerances.
TEST_F(FusedAttentionGpu, HopperForwardMatchesCpu) {
  if (cuda::ComputeCapability() != 90) GTEST_SKIP() << "the Hopper forward runs on sm_90 only";
  for (const Case& c : Cases()) {
    if (c.D != 64) continue;
    SCOPED_TRACE(c.Name());
    const Reference r = RunCpu(c, 100 + c.N + c.H + c.D);
    Tensor out = Tensor::Full({c.B, c.N, c.H * c.D}, NAN, DType::kBF16, Gpu());
    Tensor lse = Tensor::Full({c.B, c.H, c.N}, NAN, DType::kF32, Gpu());
    const Tensor qkv = Bf16OnGpu(r.qkv);
    cuda::FusedAttentionForwardHopper(qkv.data<bf16>(), out.data<bf16>(), lse.data<float>(), c.B, c.N, c.H, c.D,
                                      c.Scale());
    EXPECT_GPU_CLOSE(OnHost(out), r.out, 4 * kBf16Unit);
    EXPECT_GPU_CLOSE(OnHost(lse), r.lse, 1e-5);
  }
}

TEST_F(FusedAttentionGpu, BackwardMatchesCpu) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.Name());
    const Reference r = RunCpu(c, 200 + c.N + c.H + c.D);
    const Tensor dqkv = GpuBackward(c, Bf16OnGpu(r.qkv), Bf16OnGpu(r.out_b), Bf16OnGpu(r.dout), r.lse.ToDevice(Gpu()));
    ExpectGradsClose(c, OnHost(dqkv), r.dqkv, 8 * kBf16Unit);
  }
}

// The Hopper backward (TMA + wgmma) on an H100/H200, on the inputs and with the tolerance of BackwardMatchesCpu,
// and bitwise identical between two runs (deterministic as FusedAttentionBackward: no atomics).
TEST_F(FusedAttentionGpu, HopperBackwardMatchesCpu) {
  if (cuda::ComputeCapability() != 90) GTEST_SKIP() << "the Hopper backward runs on sm_90 only";
  for (const Case& c : Cases()) {
    if (c.D != 64) continue;
    SCOPED_TRACE(c.Name());
    const Reference r = RunCpu(c, 200 + c.N + c.H + c.D);
    const Tensor qkv = Bf16OnGpu(r.qkv), out = Bf16OnGpu(r.out_b), dout = Bf16OnGpu(r.dout), lse = r.lse.ToDevice(Gpu());
    const Tensor scratch = Scratch(c);
    auto run = [&] {
      Tensor dqkv = Tensor::Full(qkv.shape(), NAN, DType::kBF16, Gpu());
      cuda::FusedAttentionBackwardHopper(qkv.data<bf16>(), out.data<bf16>(), dout.data<bf16>(), lse.data<float>(),
                                         dqkv.data<bf16>(), c.B, c.N, c.H, c.D, c.Scale(), scratch.raw_data());
      return OnHost(dqkv);
    };
    const Tensor d1 = run(), d2 = run();
    ExpectGradsClose(c, d1, r.dqkv, 8 * kBf16Unit);
    EXPECT_EQ(std::memcmp(d1.raw_data(), d2.raw_data(), d1.nbytes()), 0) << "dqkv differs between runs";
  }
}

// The forward's own out and lse into the backward (how the op uses them), twice: the results match the
// CPU end to end and are bitwise identical between runs (no atomics, fixed reduction order).
TEST_F(FusedAttentionGpu, EndToEndDeterministic) {
  for (const Case& c : {Case{2, 785, 12, 64}, Case{2, 197, 3, 64}, Case{2, 37, 3, 32}}) {
    SCOPED_TRACE(c.Name());
    const Reference r = RunCpu(c, 300 + c.N);
    const Tensor g_qkv = Bf16OnGpu(r.qkv), g_dout = Bf16OnGpu(r.dout);
    const auto [out1, lse1] = GpuForward(c, g_qkv);
    const auto [out2, lse2] = GpuForward(c, g_qkv);
    const Tensor d1 = OnHost(GpuBackward(c, g_qkv, out1, g_dout, lse1));
    const Tensor d2 = OnHost(GpuBackward(c, g_qkv, out1, g_dout, lse1));
    ExpectGradsClose(c, d1, r.dqkv, 8 * kBf16Unit);
    const Tensor o1 = OnHost(out1), o2 = OnHost(out2), l1 = OnHost(lse1), l2 = OnHost(lse2);
    EXPECT_EQ(std::memcmp(o1.raw_data(), o2.raw_data(), o1.nbytes()), 0) << "out differs between runs";
    EXPECT_EQ(std::memcmp(l1.raw_data(), l2.raw_data(), l1.nbytes()), 0) << "lse differs between runs";
    EXPECT_EQ(std::memcmp(d1.raw_data(), d2.raw_data(), d1.nbytes()), 0) << "dqkv differs between runs";
  }
}

// Every element of out, lse and dqkv is written (all prefilled with NaN), at sizes with partial tiles.
TEST_F(FusedAttentionGpu, OutputsFullyOverwritten) {
  for (const Case& c : {Case{1, 1, 3, 64}, Case{2, 37, 3, 64}, Case{2, 130, 5, 64}, Case{3, 197, 2, 32}}) {
    SCOPED_TRACE(c.Name());
    const Tensor qkv = Tensor::Randn({c.B, c.N, 3 * c.H * c.D}, 400 + c.N);
    const Tensor g_qkv = Bf16OnGpu(qkv), g_dout = Bf16OnGpu(Tensor::Randn({c.B, c.N, c.H * c.D}, 500 + c.N));
    const auto [out, lse] = GpuForward(c, g_qkv);
    const Tensor dqkv = GpuBackward(c, g_qkv, out, g_dout, lse);
    EXPECT_EQ(CountNan(out), 0);
    EXPECT_EQ(CountNan(lse), 0);
    EXPECT_EQ(CountNan(dqkv), 0);
  }
}

}  // namespace
}  // namespace vfm

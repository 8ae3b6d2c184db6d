// Shared by the GPU tests: a fixture that skips (with the reason) where there is no GPU, and the
// comparison of a GPU result with its CPU reference.
//
// Tolerances are bf16-aware: bf16 keeps 8 significant bits, so one rounding is a relative error of up
// to 2^-8 = 0.0039; a kernel that reads bf16 inputs and writes bf16 outputs is compared to the fp32
// CPU reference run on the same bf16-rounded inputs, so only the output rounding and the order of the
// fp32 accumulation differ. Tests state their tolerance as a multiple of that unit.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/tensor.h"
#include "kernels/device.h"
#if VFM_WITH_CUDA
#include "kernels/cuda/runtime.h"
#endif

namespace vfm::testing {

constexpr double kBf16Unit = 1.0 / 256;  // relative spacing of bf16 numbers

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const CudaProbe probe = ProbeCuda();
    if (probe.devices == 0) GTEST_SKIP() << "no GPU here (" << probe.detail << "): runs on the GPU machine";
#if VFM_WITH_CUDA
    cuda::SetDevice(0);
#endif
  }
  static Device Gpu() { return Device::CUDA(0); }
};

// Worst |a - b| / (|b| + floor) over all elements: relative for large values, absolute near zero
// (floor = the RMS of the reference, so near-zero elements of a well-scaled tensor do not dominate).
inline double WorstRelativeError(const Tensor& got, const Tensor& want) {
  const std::vector<float> a = got.ToVector(), b = want.ToVector();
  EXPECT_EQ(a.size(), b.size());
  double rms = 0;
  for (float v : b) rms += double(v) * v;
  rms = std::sqrt(rms / std::max<size_t>(1, b.size()));
  double worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const double err = std::fabs(double(a[i]) - b[i]) / (std::fabs(double(b[i])) + rms + 1e-30);
    if (!(err <= worst)) worst = std::isnan(err) ? INFINITY : err;
  }
  return worst;
}

#define EXPECT_GPU_CLOSE(got, want, tol)                                                        \
  do {                                                                                          \
    const double vfm_worst_ = ::vfm::testing::WorstRelativeError((got), (want));                \
    EXPECT_LE(vfm_worst_, (tol)) << #got << " vs " << #want << ": worst relative error " << vfm_worst_; \
  } while (0)

// x rounded to bf16 and back (the inputs a bf16 kernel actually sees), on the host as f32.
inline Tensor RoundedToBf16(const Tensor& x) { return x.To(DType::kBF16).To(DType::kF32); }
// The f32 values a kernel reading `dtype` sees.
inline Tensor Seen(const Tensor& x, DType dtype) { return dtype == DType::kBF16 ? RoundedToBf16(x) : x; }

// x on the GPU in `dtype` (converted there), and back on the host.
inline Tensor OnGpu(const Tensor& x, DType dtype) {
  const Tensor g = x.ToDevice(Device::CUDA(0));
  return g.dtype() == dtype ? g : g.To(dtype);
}
inline Tensor OnHost(const Tensor& x) { return x.ToDevice(Device::CPU()); }

// x on the GPU in `dtype` as a view one element into its buffer: contiguous but not 16-byte aligned, so
// kernels that use 16-byte accesses where they can (elementwise.cuh) take their per-element form.
inline Tensor MisalignedOnGpu(const Tensor& x, DType dtype) {
  Tensor flat = Tensor::Zeros({x.numel() + 1});
  const std::vector<float> values = x.ToVector();
  std::copy(values.begin(), values.end(), flat.data<float>() + 1);
  return OnGpu(flat, dtype).View(x.shape(), ContiguousStrides(x.shape()), 1);
}

// The gradients an op's node gives for the upstream gradient g (what the engine would call), so an op's
// backward is tested without the ops that a whole graph would need.
inline std::vector<Tensor> GradsOf(const Tensor& out, const Tensor& g) {
  NoGradGuard no_grad;
  const std::shared_ptr<Node>& node = out.grad_fn();
  EXPECT_TRUE(node != nullptr) << "output has no grad_fn";
  if (!node) return {};
  return node->backward(g, node->needs);
}

}  // namespace vfm::testing

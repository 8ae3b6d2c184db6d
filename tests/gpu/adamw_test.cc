// Optimizer kernels on the GPU (kernels/cuda/adamw.h) against the CPU: AdamW over several steps (the
// kernel and the trainer's AdamW with its decay groups), the bf16 copy of updated parameters, the EMA
// teacher update, gradient norms, and DINO/iBOT's per-parameter clipping (trainer's
// ClipGradientsPerParameter, norms and clipped gradients).
// Tolerances: AdamW and EMA do the same fp32 operations in the same order (the GPU kernel forbids FMA
// contraction; the CPU build may contract, so results can differ by an ulp per operation), hence 2e-6
// relative after several steps. Norms accumulate in fp32 on the GPU and in double on the CPU: 1e-5.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "kernels/cpu/adamw.h"
#include "kernels/cuda/adamw.h"
#include "tests/gpu/gpu_test.h"
#include "trainer/adamw.h"
#include "trainer/ema.h"

namespace vfm {
namespace {
using testing::OnGpu;
using testing::OnHost;
using testing::GpuTest;

Tensor OnGpu(const Tensor& x) { return x.ToDevice(Device::CUDA(0)); }

TEST_F(GpuTest, AdamWKernelMatchesCpuOverSteps) {
  const int64_t n = 100003;
  Tensor p = Tensor::Randn({n}, 1), m = Tensor::Zeros({n}), v = Tensor::Zeros({n});
  Tensor gp = OnGpu(p), gm = OnGpu(m), gv = OnGpu(v);
  Tensor p_bf16 = Tensor::Empty({n}, DType::kBF16, Device::CUDA(0));
  for (int64_t step = 1; step <= 5; ++step) {
    const Tensor g = Tensor::Randn({n}, 10 + uint64_t(step));
    const Tensor gg = OnGpu(g);
    const cpu::AdamWStep s{1e-3 * double(step), step % 2 ? 0.05 : 0.0, 0.9, 0.999, 1e-8, step};
    cpu::AdamWUpdate(p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>(), n, s);
    cuda::AdamWUpdate(gp.data<float>(), gg.data<float>(), gm.data<float>(), gv.data<float>(), n, s,
                      step == 5 ? p_bf16.data<bf16>() : nullptr);
  }
  EXPECT_GPU_CLOSE(OnHost(gp), p, 2e-6);
  EXPECT_GPU_CLOSE(OnHost(gm), m, 2e-6);
  EXPECT_GPU_CLOSE(OnHost(gv), v, 2e-6);
  // The bf16 copy is exactly the updated fp32 parameters rounded to nearest even.
  EXPECT_EQ(OnHost(p_bf16).ToVector(), OnHost(gp).To(DType::kBF16).ToVector());
}

TEST_F(GpuTest, EmaKernelMatchesCpu) {
  const int64_t n = 70001;
  Tensor t = Tensor::Randn({n}, 3);
  const Tensor s = Tensor::Randn({n}, 4);
  Tensor gt = OnGpu(t);
  const Tensor gs = OnGpu(s);
  for (double momentum : {0.996, 0.9995, 1.0}) {
    cpu::EmaUpdate(t.data<float>(), s.data<float>(), n, momentum);
    cuda::EmaUpdate(gt.data<float>(), gs.data<float>(), n, momentum);
  }
  EXPECT_GPU_CLOSE(OnHost(gt), t, 2e-6);
}

template <typename T>
void CheckGradNorm(int64_t n) {
  SCOPED_TRACE("n=" + std::to_string(n) + " " + DTypeName(DTypeOf<T>()));
  Tensor x = Tensor::Randn({n}, 5 + uint64_t(n));
  if (DTypeOf<T>() == DType::kBF16) x = testing::RoundedToBf16(x);
  double sq = 0;
  for (float e : x.ToVector()) sq += double(e) * e;
  const double want = std::sqrt(sq);
  const Tensor gx = DTypeOf<T>() == DType::kBF16 ? OnGpu(x).To(DType::kBF16) : OnGpu(x);
  Tensor partials = Tensor::Empty({cuda::kGradNormPartials}, DType::kF32, Device::CUDA(0));
  Tensor norm = Tensor::Empty({1}, DType::kF32, Device::CUDA(0));
  cuda::GradNorm<T>(gx.data<T>(), n, partials.data<float>(), norm.data<float>());
  const double got = OnHost(norm).ToVector()[0];
  EXPECT_NEAR(got, want, 1e-5 * want);
  // Deterministic: the same input gives the same bits.
  Tensor again = Tensor::Empty({1}, DType::kF32, Device::CUDA(0));
  cuda::GradNorm<T>(gx.data<T>(), n, partials.data<float>(), again.data<float>());
  EXPECT_EQ(OnHost(again).ToVector()[0], float(got));
}

TEST_F(GpuTest, GradNormMatchesDoubleSum) {
  for (int64_t n : {1, 37, 1000, 768 * 3072, 5000001}) {
    CheckGradNorm<float>(n);
    CheckGradNorm<bf16>(n);
  }
}

TEST_F(GpuTest, ClipByNormScalesOnlyAboveTheLimit) {
  for (double scale : {10.0, 0.001}) {  // norm ~ 316 (clipped to 3) and ~ 0.03 (left alone)
    const Tensor g = ops::Scale(Tensor::Randn({1000}, 8), scale);
    double sq = 0;
    for (float e : g.ToVector()) sq += double(e) * e;
    const double norm = std::sqrt(sq), coef = 3.0 / (norm + 1e-6);
    Tensor want = g.Clone();
    if (coef < 1)
      for (int64_t i = 0; i < 1000; ++i) want.data<float>()[i] *= float(coef);
    Tensor gg = OnGpu(g);
    const Tensor gnorm = Tensor::Full({1}, norm, DType::kF32, Device::CUDA(0));
    cuda::ClipByNorm<float>(gg.data<float>(), 1000, 3.0, gnorm.data<float>());
    EXPECT_GPU_CLOSE(OnHost(gg), want, 1e-6);
  }
}

// Parameters as the trainer holds them: a decayed weight, a bias and a norm weight (no decay).
nn::NamedTensors MakeParams(bool gpu) {
  nn::NamedTensors params{{"blocks.0.mlp.fc1.weight", Tensor::Randn({37, 100}, 21)},
                          {"blocks.0.mlp.fc1.bias", Tensor::Randn({37}, 22)},
                          {"norm.weight", Tensor::Randn({768}, 23)}};
  for (auto& [name, p] : params) {
    if (gpu) p = OnGpu(p);
    p.set_requires_grad(true);
  }
  return params;
}

TEST_F(GpuTest, TrainerAdamWOnGpuMatchesCpu) {
  nn::NamedTensors cpu_params = MakeParams(false), gpu_params = MakeParams(true);
  AdamW cpu_opt(cpu_params), gpu_opt(gpu_params);
  for (const auto& [name, s] : gpu_opt.state()) EXPECT_TRUE(s.m.device() == Device::CUDA(0)) << name;
  for (int step = 1; step <= 4; ++step) {
    for (size_t i = 0; i < cpu_params.size(); ++i) {
      if (step == 2 && i == 1) {  // a parameter without a gradient is skipped (its step count too)
        cpu_params[i].second.ZeroGrad();
        gpu_params[i].second.ZeroGrad();
        continue;
      }
      const Tensor g = Tensor::Randn(cpu_params[i].second.shape(), 100 * uint64_t(step) + i);
      cpu_params[i].second.set_grad(g);
      gpu_params[i].second.set_grad(OnGpu(g));
    }
    cpu_opt.Step(2e-3, 0.04);
    gpu_opt.Step(2e-3, 0.04);
  }
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    SCOPED_TRACE(cpu_params[i].first);
    EXPECT_GPU_CLOSE(OnHost(gpu_params[i].second), cpu_params[i].second, 2e-6);
    EXPECT_EQ(gpu_opt.state().at(cpu_params[i].first).step, cpu_opt.state().at(cpu_params[i].first).step);
  }
}

TEST_F(GpuTest, TrainerClipGradientsOnGpuMatchesCpu) {
  nn::NamedTensors cpu_params = MakeParams(false), gpu_params = MakeParams(true);
  const std::vector<double> scales{1.0, 0.01, 5.0};  // norms ~ 61 (clipped), ~ 0.06 (kept), ~ 139 (clipped)
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    const Tensor g = ops::Scale(Tensor::Randn(cpu_params[i].second.shape(), 200 + i), scales[i]);
    cpu_params[i].second.set_grad(g.Clone());
    gpu_params[i].second.set_grad(OnGpu(g));
  }
  const std::map<std::string, double> want = ClipGradientsPerParameter(cpu_params, 3.0);
  const std::map<std::string, double> got = ClipGradientsPerParameter(gpu_params, 3.0);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    const std::string& name = cpu_params[i].first;
    SCOPED_TRACE(name);
    EXPECT_NEAR(got.at(name), want.at(name), 1e-5 * want.at(name));
    EXPECT_GPU_CLOSE(OnHost(gpu_params[i].second.grad()), cpu_params[i].second.grad(), 1e-5);
  }
  // Without the read-back the GPU norms are absent (and nothing waits for the device).
  EXPECT_TRUE(ClipGradientsPerParameter(gpu_params, 3.0, /*return_norms=*/false).empty());
}

TEST_F(GpuTest, TrainerEmaOnGpuMatchesCpu) {
  nn::NamedTensors cpu_teacher = MakeParams(false), cpu_student = MakeParams(false);
  nn::NamedTensors gpu_teacher = MakeParams(true), gpu_student = MakeParams(true);
  for (size_t i = 0; i < cpu_student.size(); ++i) {  // a student that differs from the teacher
    const Tensor s = Tensor::Randn(cpu_student[i].second.shape(), 300 + i);
    cpu_student[i].second.CopyFrom(s);
    gpu_student[i].second.CopyFrom(OnGpu(s));
  }
  for (double momentum : {0.996, 0.998}) {
    EmaUpdate(cpu_teacher, cpu_student, momentum);
    EmaUpdate(gpu_teacher, gpu_student, momentum);
  }
  for (size_t i = 0; i < cpu_teacher.size(); ++i) {
    SCOPED_TRACE(cpu_teacher[i].first);
    EXPECT_GPU_CLOSE(OnHost(gpu_teacher[i].second), cpu_teacher[i].second, 2e-6);
  }
}

}  // namespace
}  // namespace vfm

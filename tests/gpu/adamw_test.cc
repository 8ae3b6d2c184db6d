// Optimizer kernels on the GPU (kernels/cuda/adamw.h) against the CPU: AdamW over several steps (the
// batched kernel and the trainer's AdamW with its decay groups), the EMA teacher update, squared gradient
// norms, and DINO/iBOT's per-parameter clipping (the trainer's AdamW::ClipGradients, norms and clipped
// gradients), each over lists of tensors as the trainer passes them.
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

// The kernels take lists of tensors, up to kMaxTensorsPerLaunch per launch: 70 tensors (two launches)
// of assorted sizes, among them an empty one and one larger than a launch's blocks cover in one pass.
std::vector<int64_t> BatchSizes() {
  std::vector<int64_t> sizes;
  for (int i = 0; i < 70; ++i) sizes.push_back(i == 3 ? 0 : i == 5 ? 100003 : 1 + 37 * i);
  return sizes;
}

TEST_F(GpuTest, AdamWKernelMatchesCpuOverSteps) {
  const std::vector<int64_t> sizes = BatchSizes();
  std::vector<Tensor> p, m, v, gp, gm, gv;
  for (size_t k = 0; k < sizes.size(); ++k) {
    p.push_back(Tensor::Randn({sizes[k]}, 1 + k));
    m.push_back(Tensor::Zeros({sizes[k]}));
    v.push_back(Tensor::Zeros({sizes[k]}));
    gp.push_back(OnGpu(p[k]));
    gm.push_back(OnGpu(m[k]));
    gv.push_back(OnGpu(v[k]));
  }
  for (int64_t step = 1; step <= 5; ++step) {
    std::vector<Tensor> grads;  // alive until the kernels have run
    std::vector<cuda::AdamWTensor> batch;
    for (size_t k = 0; k < sizes.size(); ++k) {
      const Tensor g = Tensor::Randn({sizes[k]}, 100 * uint64_t(step) + k);
      grads.push_back(OnGpu(g));
      // Per-tensor learning rates, decays and step counts, as decay groups and skipped steps give.
      const cpu::AdamWStep s{1e-3 * double(step + int64_t(k % 3)), (step + int64_t(k)) % 2 ? 0.05 : 0.0, 0.9, 0.999,
                             1e-8, step + int64_t(k % 2)};
      cpu::AdamWUpdate(p[k].data<float>(), g.data<float>(), m[k].data<float>(), v[k].data<float>(), sizes[k], s);
      batch.push_back({gp[k].data<float>(), grads.back().data<float>(), gm[k].data<float>(), gv[k].data<float>(),
                       sizes[k], s});
    }
    cuda::AdamWUpdate(batch.data(), int(batch.size()));
  }
  for (size_t k = 0; k < sizes.size(); ++k) {
    SCOPED_TRACE(k);
    EXPECT_GPU_CLOSE(OnHost(gp[k]), p[k], 2e-6);
    EXPECT_GPU_CLOSE(OnHost(gm[k]), m[k], 2e-6);
    EXPECT_GPU_CLOSE(OnHost(gv[k]), v[k], 2e-6);
  }
}

TEST_F(GpuTest, EmaKernelMatchesCpu) {
  const std::vector<int64_t> sizes = BatchSizes();
  std::vector<Tensor> t, s, gt, gs;
  std::vector<cuda::EmaTensor> batch;
  for (size_t k = 0; k < sizes.size(); ++k) {
    t.push_back(Tensor::Randn({sizes[k]}, 3 + k));
    s.push_back(Tensor::Randn({sizes[k]}, 300 + k));
    gt.push_back(OnGpu(t[k]));
    gs.push_back(OnGpu(s[k]));
    batch.push_back({gt[k].data<float>(), gs[k].data<float>(), sizes[k]});
  }
  for (double momentum : {0.996, 0.9995, 1.0}) {
    for (size_t k = 0; k < sizes.size(); ++k)
      cpu::EmaUpdate(t[k].data<float>(), s[k].data<float>(), sizes[k], momentum);
    cuda::EmaUpdate(batch.data(), int(batch.size()), momentum);
  }
  for (size_t k = 0; k < sizes.size(); ++k) {
    SCOPED_TRACE(k);
    EXPECT_GPU_CLOSE(OnHost(gt[k]), t[k], 2e-6);
  }
}

TEST_F(GpuTest, GradSquaredNormsMatchDoubleSums) {
  // One list: sizes from 1 to more than kGradNormPartials blocks' worth, and the 70-tensor batch.
  std::vector<int64_t> sizes = {1, 37, 1000, 768 * 3072, 5000001};
  for (int64_t n : BatchSizes()) sizes.push_back(n);
  std::vector<Tensor> xs;
  std::vector<const float*> pointers;
  for (size_t k = 0; k < sizes.size(); ++k) {
    xs.push_back(OnGpu(Tensor::Randn({sizes[k]}, 5 + k)));
    pointers.push_back(xs.back().data<float>());
  }
  const int count = int(sizes.size());
  const Device gpu = Device::CUDA(0);
  Tensor partials = Tensor::Empty({count * cuda::kGradNormPartials}, DType::kF32, gpu);
  Tensor squares = Tensor::Empty({count}, DType::kF32, gpu), again = Tensor::Empty({count}, DType::kF32, gpu);
  cuda::GradSquaredNorms(pointers.data(), sizes.data(), count, partials.data<float>(), squares.data<float>());
  cuda::GradSquaredNorms(pointers.data(), sizes.data(), count, partials.data<float>(), again.data<float>());
  const std::vector<float> got = OnHost(squares).ToVector();
  for (size_t k = 0; k < sizes.size(); ++k) {
    double sq = 0;
    for (float e : OnHost(xs[k]).ToVector()) sq += double(e) * e;
    EXPECT_NEAR(got[k], sq, 2e-5 * sq) << "n=" << sizes[k];
  }
  EXPECT_EQ(OnHost(again).ToVector(), got);  // deterministic: the same inputs give the same bits
}

TEST_F(GpuTest, ClipBySquaredNormsScalesOnlyAboveTheLimit) {
  // The 70-tensor list (two launches): every other tensor is scaled to a norm above the limit (clipped
  // to 3), the others stay below it (left alone); each reads its own squared norm.
  const std::vector<int64_t> sizes = BatchSizes();
  std::vector<Tensor> want, on_gpu;
  std::vector<float*> pointers;
  std::vector<float> squares;
  for (size_t k = 0; k < sizes.size(); ++k) {
    const Tensor g = ops::Scale(Tensor::Randn({sizes[k]}, 8 + k), k % 2 ? 10.0 : 0.001);
    double sq = 0;
    for (float e : g.ToVector()) sq += double(e) * e;
    const double norm = std::sqrt(sq), coef = 3.0 / (norm + 1e-6);
    want.push_back(g.Clone());
    if (coef < 1)
      for (int64_t i = 0; i < sizes[k]; ++i) want.back().data<float>()[i] *= float(coef);
    on_gpu.push_back(OnGpu(g));
    pointers.push_back(on_gpu.back().data<float>());
    squares.push_back(float(sq));
  }
  const Tensor gsquares = OnGpu(Tensor::FromVector(squares, {int64_t(squares.size())}));
  cuda::ClipBySquaredNorms(pointers.data(), sizes.data(), int(sizes.size()), 3.0, gsquares.data<float>());
  for (size_t k = 0; k < sizes.size(); ++k) {
    SCOPED_TRACE(k);
    EXPECT_GPU_CLOSE(OnHost(on_gpu[k]), want[k], 1e-6);
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

// Gradients as backward leaves them: in the parameters' slots of the gradient buckets.
void SetGrad(Tensor p, const Tensor& g) {
  Tensor home = p.grad_home();
  home.CopyFrom(g);
  p.set_grad(home);
}

TEST_F(GpuTest, TrainerAdamWOnGpuMatchesCpu) {
  nn::NamedTensors cpu_params = MakeParams(false), gpu_params = MakeParams(true);
  GradBuckets cpu_grads(cpu_params), gpu_grads(gpu_params);
  AdamW cpu_opt(cpu_grads), gpu_opt(gpu_grads);
  for (const auto& [name, s] : gpu_opt.WholeState()) EXPECT_TRUE(s.m.device() == Device::CUDA(0)) << name;
  for (int step = 1; step <= 4; ++step) {
    for (size_t i = 0; i < cpu_params.size(); ++i) {
      if (step == 2 && i == 1) {  // a parameter without a gradient is skipped (its step count too)
        cpu_params[i].second.ZeroGrad();
        gpu_params[i].second.ZeroGrad();
        continue;
      }
      const Tensor g = Tensor::Randn(cpu_params[i].second.shape(), 100 * uint64_t(step) + i);
      SetGrad(cpu_params[i].second, g);
      SetGrad(gpu_params[i].second, OnGpu(g));
    }
    cpu_opt.Step(2e-3, 0.04);
    gpu_opt.Step(2e-3, 0.04);
  }
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    SCOPED_TRACE(cpu_params[i].first);
    EXPECT_GPU_CLOSE(OnHost(gpu_params[i].second), cpu_params[i].second, 2e-6);
    EXPECT_EQ(gpu_opt.WholeState().at(cpu_params[i].first).step, cpu_opt.WholeState().at(cpu_params[i].first).step);
  }
}

TEST_F(GpuTest, TrainerClipGradientsOnGpuMatchesCpu) {
  nn::NamedTensors cpu_params = MakeParams(false), gpu_params = MakeParams(true);
  GradBuckets cpu_grads(cpu_params), gpu_grads(gpu_params);
  AdamW cpu_opt(cpu_grads), gpu_opt(gpu_grads);
  const std::vector<double> scales{1.0, 0.01, 5.0};  // norms ~ 61 (clipped), ~ 0.06 (kept), ~ 139 (clipped)
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    const Tensor g = ops::Scale(Tensor::Randn(cpu_params[i].second.shape(), 200 + i), scales[i]);
    SetGrad(cpu_params[i].second, g);
    SetGrad(gpu_params[i].second, OnGpu(g));
  }
  const std::map<std::string, double> want = cpu_opt.ClipGradients(3.0);
  const std::map<std::string, double> got = gpu_opt.ClipGradients(3.0);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    const std::string& name = cpu_params[i].first;
    SCOPED_TRACE(name);
    EXPECT_NEAR(got.at(name), want.at(name), 1e-5 * want.at(name));
    EXPECT_GPU_CLOSE(OnHost(gpu_params[i].second.grad()), cpu_params[i].second.grad(), 1e-5);
  }
  // Without the read-back the GPU norms are absent (and nothing waits for the device).
  EXPECT_TRUE(gpu_opt.ClipGradients(3.0, nullptr, /*return_norms=*/false).empty());
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

// Ten iBOT training steps of a ViT-S/16 on the GPU track the same ten steps on the CPU: bf16 compute
// (fp32 master weights) within bf16 noise, fp32 on the GPU within fp32 rounding. Same initial weights,
// same crops and masks, drop path off.
#include "autograd/caching_allocator.h"
#include "tests/gpu/gpu_test.h"
#include "trainer/ibot_step.h"

namespace vfm {
namespace {
using testing::GpuTest;

struct TrainingRun {
  std::vector<double> losses;
  int64_t mallocs_after_first_steps = -1;
};

TrainingRun Train(Device device, DType dtype, int steps) {
  auto vit = *nn::ViTConfigByName("vit_small", 16, 64);  // 4x4 patches + [CLS] = 17 tokens
  nn::IBotHeadConfig head;
  head.out_dim = 1024;
  nn::IBotNetwork student(vit, head, 3), teacher(vit, head, 3);
  for (auto [name, p] : teacher.NamedParameters()) p.set_requires_grad(false);
  student.MoveTo(device);
  teacher.MoveTo(device);
  IBotLoss loss(head.out_dim, 2, 2);
  loss.MoveTo(device);
  GradBuckets grads(student.NamedParameters());
  AdamW optimizer(grads);
  const int64_t B = 4;
  TrainingRun run;
  for (int step = 0; step < steps; ++step) {
    IBotCrops crops;
    // The same masks every step (new pixels): the masked-row count fixes tensor sizes, so from the third
    // step on the allocator serves everything from its cache. (With masks drawn per step, new counts
    // allocate until their size classes are cached.)
    Rng rng(11);
    crops.global = Tensor::Randn({2 * B, 3, 64, 64}, MixKey({1, uint64_t(step)})).ToDevice(device).To(dtype);
    crops.masks = Tensor::Empty({2 * B, 16}, DType::kU8);
    for (int64_t k = 0; k < crops.masks.numel(); ++k) crops.masks.data<uint8_t>()[k] = rng.Uniform() < 0.3f;
    crops.local = Tensor::Randn({2 * B, 3, 32, 32}, MixKey({2, uint64_t(step)})).ToDevice(device).To(dtype);
    IBotStepSettings s{3e-4, 0.04, 0.99, 0.04, 0.07};
    const IBotForwardResult r = IBotTrainStep(student, teacher, loss, optimizer, crops, s, nullptr);
    run.losses.push_back(r.loss.loss.item());
#if VFM_WITH_CUDA
    if (!device.is_cpu()) {
      const int64_t mallocs = CudaAllocator(device.index).stats().backend_mallocs;
      if (step == 2) run.mallocs_after_first_steps = mallocs;
      if (step == steps - 1) {
        EXPECT_EQ(mallocs, run.mallocs_after_first_steps) << "the steady-state step allocated device memory";
      }
    }
#endif
  }
  return run;
}

void ExpectTracks(const TrainingRun& gpu, const TrainingRun& cpu, double tol) {
  ASSERT_EQ(gpu.losses.size(), cpu.losses.size());
  for (size_t i = 0; i < cpu.losses.size(); ++i)
    EXPECT_NEAR(gpu.losses[i], cpu.losses[i], tol * std::fabs(cpu.losses[i])) << "step " << i + 1;
}

TEST_F(GpuTest, ViTSmallTenStepsBf16TrackTheCpu) {
  const TrainingRun cpu = Train(Device::CPU(), DType::kF32, 10);
  const TrainingRun gpu = Train(Gpu(), DType::kBF16, 10);
  // bf16 activations: each loss is a mean over thousands of log-probabilities whose inputs carry ~2^-8
  // relative rounding; 2% allows that noise and the drift of ten Adam steps, and catches a wrong kernel
  // (which moves the loss by far more within a step or two).
  ExpectTracks(gpu, cpu, 2e-2);
}

TEST_F(GpuTest, ViTSmallTenStepsFp32MatchTheCpu) {
  const TrainingRun cpu = Train(Device::CPU(), DType::kF32, 10);
  const TrainingRun gpu = Train(Gpu(), DType::kF32, 10);
  ExpectTracks(gpu, cpu, 1e-3);  // fp32 on both: accumulation order and Adam's amplification only
}

}  // namespace
}  // namespace vfm

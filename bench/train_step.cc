// bench_train_step: one full iBOT training step (student forward and backward on masked global crops
// and optional local crops, teacher forward, loss, clipping, AdamW, EMA, centres) on the CPU or a GPU.
// On the CPU it is timed beside the same step in PyTorch (bench/train_step_torch.py) in the same run and
// prints both medians and the ratio vfm/PyTorch (below 1: vfm is faster). On a GPU it prints img/s, MFU
// and peak memory as one JSON line (launch/gpu_check.sh runs the PyTorch GPU baseline beside it).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "kernels/device.h"
#include "trainer/flops.h"
#include "trainer/ibot_step.h"
#if VFM_WITH_CUDA
#include "autograd/caching_allocator.h"
#include "bench/gpu/kernel_profile.h"
#include "kernels/cuda/runtime.h"
#endif

ABSL_FLAG(std::string, arch, "vit_tiny", "vit_tiny | vit_small | vit_base | vit_large");
ABSL_FLAG(int, patch, 16, "patch size");
ABSL_FLAG(int, img, 224, "global crop size");
ABSL_FLAG(int, local_img, 96, "local crop size");
ABSL_FLAG(int, n_local, 0, "local crops (VisionFM: 0, iBOT: 10)");
ABSL_FLAG(int, batch, 8, "images per crop");
ABSL_FLAG(int, out_dim, 8192, "prototypes K");
ABSL_FLAG(int, steps, 5, "timed steps (the median is reported)");
ABSL_FLAG(int, warmup, 1, "untimed steps first");
ABSL_FLAG(bool, torch, true, "also time the PyTorch baseline (CPU only)");
ABSL_FLAG(std::string, device, "cpu", "cpu | cuda");
ABSL_FLAG(std::string, precision, "bf16", "on cuda: bf16 | fp32");
ABSL_FLAG(double, mask_ratio, 0.3, "fraction of global-crop patches masked");
ABSL_FLAG(bool, profile_kernels, false, "on cuda: one more step with GPU time per kernel (CUPTI) to stderr");
ABSL_FLAG(double, peak_tflops, 989.4, "dense bf16 peak of the GPU for MFU (H100/H200 SXM: 989.4)");

namespace vfm {
namespace {

double MedianMs(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Run() {
  auto vit = nn::ViTConfigByName(absl::GetFlag(FLAGS_arch), absl::GetFlag(FLAGS_patch), absl::GetFlag(FLAGS_img));
  if (!vit.ok()) {
    std::fprintf(stderr, "%s\n", std::string(vit.status().message()).c_str());
    return 2;
  }
  nn::IBotHeadConfig head;
  head.out_dim = absl::GetFlag(FLAGS_out_dim);
  const int B = absl::GetFlag(FLAGS_batch), n_local = absl::GetFlag(FLAGS_n_local);
  const int64_t grid = vit->grid();
  const bool gpu = absl::GetFlag(FLAGS_device) == "cuda";
  Device device = Device::CPU();
  DType dtype = DType::kF32;
  if (gpu) {
    if (const CudaProbe probe = ProbeCuda(); probe.devices == 0) {
      std::fprintf(stderr, "--device=cuda: no GPU (%s)\n", probe.detail.c_str());
      return 2;
    }
#if VFM_WITH_CUDA
    cuda::SetDevice(0);
    device = Device::CUDA(0);
    dtype = absl::GetFlag(FLAGS_precision) == "fp32" ? DType::kF32 : DType::kBF16;
#else
    std::fprintf(stderr, "--device=cuda: this build has no CUDA backend\n");
    return 2;
#endif
  }
  nn::IBotNetwork student(*vit, head, 1), teacher(*vit, head, 1);
  for (auto [name, p] : teacher.NamedParameters()) p.set_requires_grad(false);
  student.MoveTo(device);
  teacher.MoveTo(device);
  IBotLoss loss(head.out_dim, 2, n_local);
  loss.MoveTo(device);
  GradBuckets grads(student.NamedParameters());
  AdamW optimizer(grads);

  IBotCrops crops;
  Rng mask_rng(7);
  int64_t masked = 0;
  const float mask_ratio = float(absl::GetFlag(FLAGS_mask_ratio));
  crops.global = Tensor::Randn({2 * B, 3, vit->img_size, vit->img_size}, 100).ToDevice(device).To(dtype);
  crops.masks = Tensor::Empty({2 * B, grid * grid}, DType::kU8);  // masks stay on the host
  for (int64_t k = 0; k < crops.masks.numel(); ++k)
    masked += crops.masks.data<uint8_t>()[k] = mask_rng.Uniform() < mask_ratio;
  const int local = absl::GetFlag(FLAGS_local_img);
  if (n_local > 0) crops.local = Tensor::Randn({n_local * B, 3, local, local}, 200).ToDevice(device).To(dtype);

  const IBotStepSettings settings{1e-4, 0.04, 0.996, 0.04, 0.07};
  auto step = [&] {
    IBotTrainStep(student, teacher, loss, optimizer, crops, settings, nullptr);
#if VFM_WITH_CUDA
    if (gpu) cuda::Synchronize();
#endif
  };
  for (int i = 0; i < absl::GetFlag(FLAGS_warmup); ++i) step();
  [[maybe_unused]] int64_t mallocs_before = 0;  // device allocations in the timed steps: 0 once warm
#if VFM_WITH_CUDA
  if (gpu) {
    CudaAllocator(0).ResetPeak();
    mallocs_before = CudaAllocator(0).stats().backend_mallocs;
  }
#endif
  std::vector<double> times;
  for (int i = 0; i < absl::GetFlag(FLAGS_steps); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  const double vfm_ms = MedianMs(times);
#if VFM_WITH_CUDA
  if (gpu && absl::GetFlag(FLAGS_profile_kernels)) {
    bench::StartKernelProfile();
    step();
    std::fprintf(stderr, "%s", bench::StopKernelProfile(40).c_str());
  }
#endif
  const double flops = IBotStepFlops(*vit, head, {B, 2, n_local, vit->img_size, local, masked});
  if (gpu) {
    double peak_gib = 0, reserved_gib = 0;
    int64_t timed_mallocs = 0;
#if VFM_WITH_CUDA
    const CachingAllocator::Stats st = CudaAllocator(0).stats();
    peak_gib = double(st.peak_in_use) / (1 << 30);
    reserved_gib = double(st.reserved) / (1 << 30);
    timed_mallocs = st.backend_mallocs - mallocs_before;
#endif
    std::printf(
        "{\"arch\": \"%s/%d\", \"batch\": %d, \"n_local\": %d, \"precision\": \"%s\", \"step_ms\": %.3f, "
        "\"img_per_s\": %.2f, \"step_tflop\": %.4f, \"tflop_per_s\": %.2f, \"mfu\": %.4f, \"peak_gib\": %.3f, "
        "\"reserved_gib\": %.3f, \"mallocs_in_timed_steps\": %lld}\n",
        absl::GetFlag(FLAGS_arch).c_str(), int(vit->patch), B, n_local, absl::GetFlag(FLAGS_precision).c_str(), vfm_ms,
        1000.0 * B / vfm_ms,
        flops / 1e12, flops / vfm_ms / 1e9, flops / vfm_ms / 1e9 / absl::GetFlag(FLAGS_peak_tflops), peak_gib,
        reserved_gib, (long long)timed_mallocs);
    return 0;
  }
  const std::string config = absl::StrFormat(
      "%s/%d img %d, 2 global + %d local (%d px) crops of batch %d, K=%d, %d threads", absl::GetFlag(FLAGS_arch),
      vit->patch, vit->img_size, n_local, local, B, head.out_dim, omp_get_max_threads());
  std::printf("config: %s\n", config.c_str());
  std::printf("vfm_step_ms=%.2f  (%.1f img/s)\n", vfm_ms, 1000.0 * B / vfm_ms);
  if (!absl::GetFlag(FLAGS_torch)) return 0;

  const std::string json = absl::StrFormat(
      R"({"dim": %d, "depth": %d, "heads": %d, "patch": %d, "img": %d, "local_img": %d, "n_local": %d, )"
      R"("batch": %d, "out_dim": %d, "steps": %d, "warmup": %d, "threads": %d})",
      vit->dim, vit->depth, vit->heads, vit->patch, vit->img_size, local, n_local, B, head.out_dim,
      absl::GetFlag(FLAGS_steps), absl::GetFlag(FLAGS_warmup), omp_get_max_threads());
  const std::string cmd = std::string(VFM_PYTHON) + " " + VFM_SOURCE_DIR + "/bench/train_step_torch.py '" + json + "'";
  FILE* pipe = popen(cmd.c_str(), "r");
  double torch_ms = -1;
  char line[512];
  while (pipe && std::fgets(line, sizeof line, pipe)) std::sscanf(line, "torch_step_ms=%lf", &torch_ms);
  if (!pipe || pclose(pipe) != 0 || torch_ms <= 0) {
    std::fprintf(stderr, "the PyTorch baseline failed (%s)\n", cmd.c_str());
    return 1;
  }
  std::printf("torch_step_ms=%.2f  (%.1f img/s)\n", torch_ms, 1000.0 * B / torch_ms);
  std::printf("ratio vfm/torch=%.3f\n", vfm_ms / torch_ms);
  return 0;
}

}  // namespace
}  // namespace vfm

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vfm::Run();
}

#include "trainer/adamw.h"

#include <cmath>
#include <vector>

#include "absl/strings/match.h"
#include "kernels/cpu/adamw.h"
#include "kernels/cuda/adamw.h"

namespace vfm {

AdamW::AdamW(const nn::NamedTensors& params, AdamWConfig config) : params_(params), config_(config) {
  for (const auto& [name, p] : params_) {
    if (!p.requires_grad()) continue;
    VFM_CHECK(p.dtype() == DType::kF32 && p.is_contiguous()) << "AdamW: parameter " << name << " must be contiguous f32";
    // The state lives with the parameter (on the GPU for GPU parameters).
    state_[name] = State{Tensor::Zeros(p.shape(), DType::kF32, p.device()), Tensor::Zeros(p.shape(), DType::kF32, p.device()), 0};
  }
}

bool AdamW::IsDecayed(const std::string& name, const Tensor& p) {
  return !(absl::EndsWith(name, ".bias") || p.dim() == 1);
}

void AdamW::Step(double lr, double weight_decay) {
#if VFM_WITH_CUDA
  std::vector<cuda::AdamWTensor> on_gpu;  // updated together at the end (batched launches)
  std::vector<Tensor> keep_alive;          // contiguous copies of strided gradients, until then
#endif
  for (auto& [name, p] : params_) {
    if (!p.requires_grad() || !p.grad().defined()) continue;
    State& s = state_.at(name);
    ++s.step;
    const Tensor g = p.grad().Contiguous();
    const cpu::AdamWStep step{lr, IsDecayed(name, p) ? weight_decay : 0.0, config_.beta1, config_.beta2, config_.eps,
                              s.step};
    if (p.device().is_cpu()) {
      cpu::AdamWUpdate(p.data<float>(), g.data<float>(), s.m.data<float>(), s.v.data<float>(), p.numel(), step);
      continue;
    }
#if VFM_WITH_CUDA
    VFM_CHECK(g.device() == p.device() && s.m.device() == p.device())
        << "AdamW: parameter " << name << " on " << p.device().ToString() << ", gradient on "
        << g.device().ToString() << ", state on " << s.m.device().ToString();
    on_gpu.push_back({p.data<float>(), g.data<float>(), s.m.data<float>(), s.v.data<float>(), p.numel(), step});
    keep_alive.push_back(g);
#else
    VFM_CHECK(false) << "AdamW: parameter " << name << " on " << p.device().ToString() << " in a build without CUDA";
#endif
  }
#if VFM_WITH_CUDA
  if (!on_gpu.empty()) cuda::AdamWUpdate(on_gpu.data(), int(on_gpu.size()));
#endif
}

std::map<std::string, double> ClipGradientsPerParameter(const nn::NamedTensors& params, double max_norm,
                                                        bool return_norms) {
  std::map<std::string, double> norms;
#if VFM_WITH_CUDA
  // GPU gradients: clipped together after the loop (batched launches); each norm goes to its slot of
  // one device array, the scaling reads it there.
  std::vector<std::string> gpu_names;
  std::vector<float*> gpu_grads;
  std::vector<int64_t> gpu_sizes;
  Device gpu = Device::CPU();
#endif
  for (const auto& [name, p] : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (!g.device().is_cpu()) {
#if VFM_WITH_CUDA
      VFM_CHECK(g.dtype() == DType::kF32 && g.is_contiguous())
          << "clip: gradient of " << name << " must be contiguous f32, is " << DTypeName(g.dtype());
      if (gpu_grads.empty()) gpu = g.device();
      VFM_CHECK(g.device() == gpu) << "clip: gradients on " << g.device().ToString() << " and " << gpu.ToString();
      gpu_names.push_back(name);
      gpu_grads.push_back(g.data<float>());
      gpu_sizes.push_back(g.numel());
#else
      VFM_CHECK(false) << "clip: gradient of " << name << " on " << g.device().ToString() << " in a build without CUDA";
#endif
      continue;
    }
    const float* pg = g.data<float>();
    double sq = 0;
    for (int64_t i = 0; i < g.numel(); ++i) sq += double(pg[i]) * pg[i];
    const double norm = std::sqrt(sq);
    norms[name] = norm;
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1) {
      float* w = g.data<float>();
      for (int64_t i = 0; i < g.numel(); ++i) w[i] *= float(coef);
    }
  }
#if VFM_WITH_CUDA
  if (gpu_grads.empty()) return norms;
  const int count = int(gpu_grads.size());
  Tensor gpu_norms = Tensor::Empty({count}, DType::kF32, gpu);
  const Tensor partials = Tensor::Empty({count * cuda::kGradNormPartials}, DType::kF32, gpu);
  cuda::GradNorms(gpu_grads.data(), gpu_sizes.data(), count, partials.data<float>(), gpu_norms.data<float>());
  cuda::ClipByNorms(gpu_grads.data(), gpu_sizes.data(), count, max_norm, gpu_norms.data<float>());
  if (return_norms) {  // one read-back for all GPU gradients
    const std::vector<float> host = gpu_norms.ToDevice(Device::CPU()).ToVector();
    for (size_t i = 0; i < gpu_names.size(); ++i) norms[gpu_names[i]] = host[i];
  }
#endif
  return norms;
}

}  // namespace vfm

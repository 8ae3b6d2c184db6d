#include "trainer/adamw.h"

#include <cmath>

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
  for (auto& [name, p] : params_) {
    if (!p.requires_grad() || !p.grad().defined()) continue;
    State& s = state_.at(name);
    ++s.step;
    const Tensor g = p.grad().is_contiguous() ? p.grad() : p.grad().Clone();
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
    cuda::AdamWUpdate(p.data<float>(), g.data<float>(), s.m.data<float>(), s.v.data<float>(), p.numel(), step);
#else
    VFM_CHECK(false) << "AdamW: parameter " << name << " on " << p.device().ToString() << " in a build without CUDA";
#endif
  }
}

std::map<std::string, double> ClipGradientsPerParameter(const nn::NamedTensors& params, double max_norm,
                                                        bool return_norms) {
  std::map<std::string, double> norms;
#if VFM_WITH_CUDA
  // GPU gradients: each norm goes to its slot of one device array, the scaling reads it there.
  std::vector<std::string> gpu_names;
  for (const auto& [name, p] : params)
    if (p.grad().defined() && !p.grad().device().is_cpu()) gpu_names.push_back(name);
  Tensor gpu_norms, partials;  // made on the first GPU gradient's device
  int64_t gpu_index = 0;
#endif
  for (const auto& [name, p] : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (!g.device().is_cpu()) {
#if VFM_WITH_CUDA
      VFM_CHECK(g.dtype() == DType::kF32 && g.is_contiguous())
          << "clip: gradient of " << name << " must be contiguous f32, is " << DTypeName(g.dtype());
      if (!gpu_norms.defined()) {
        gpu_norms = Tensor::Empty({int64_t(gpu_names.size())}, DType::kF32, g.device());
        partials = Tensor::Empty({cuda::kGradNormPartials}, DType::kF32, g.device());
      }
      VFM_CHECK(g.device() == gpu_norms.device())
          << "clip: gradients on " << g.device().ToString() << " and " << gpu_norms.device().ToString();
      float* norm = gpu_norms.data<float>() + gpu_index++;
      cuda::GradNorm(g.data<float>(), g.numel(), partials.data<float>(), norm);
      cuda::ClipByNorm(g.data<float>(), g.numel(), max_norm, norm);
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
  if (return_norms && gpu_norms.defined()) {  // one read-back for all GPU gradients
    const std::vector<float> host = gpu_norms.ToDevice(Device::CPU()).ToVector();
    for (size_t i = 0; i < gpu_names.size(); ++i) norms[gpu_names[i]] = host[i];
  }
#endif
  return norms;
}

}  // namespace vfm

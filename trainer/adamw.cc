#include "trainer/adamw.h"

#include <cmath>

#include "absl/strings/match.h"
#include "kernels/cpu/adamw.h"

namespace vfm {

AdamW::AdamW(const nn::NamedTensors& params, AdamWConfig config) : params_(params), config_(config) {
  for (const auto& [name, p] : params_) {
    if (!p.requires_grad()) continue;
    VFM_CHECK(p.dtype() == DType::kF32 && p.is_contiguous()) << "AdamW: parameter " << name << " must be contiguous f32";
    state_[name] = State{Tensor::Zeros(p.shape()), Tensor::Zeros(p.shape()), 0};
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
    cpu::AdamWUpdate(p.data<float>(), g.data<float>(), s.m.data<float>(), s.v.data<float>(), p.numel(),
                     {lr, IsDecayed(name, p) ? weight_decay : 0.0, config_.beta1, config_.beta2, config_.eps, s.step});
  }
}

std::map<std::string, double> ClipGradientsPerParameter(const nn::NamedTensors& params, double max_norm) {
  std::map<std::string, double> norms;
  for (const auto& [name, p] : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
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
  return norms;
}

}  // namespace vfm

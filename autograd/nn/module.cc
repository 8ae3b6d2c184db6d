#include "autograd/nn/module.h"

#include <cmath>
#include <map>

#include "kernels/random.h"

namespace vfm::nn {

NamedTensors Module::NamedParameters() const {
  NamedTensors out;
  Collect("", &out);
  return out;
}

void Module::Collect(const std::string& prefix, NamedTensors* out) const {
  for (const auto& [name, t] : params_) out->emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->Collect(name.empty() ? prefix : prefix + name + ".", out);
}

void Module::LoadFrom(const NamedTensors& source) {
  std::map<std::string, Tensor> by_name(source.begin(), source.end());
  for (auto& [name, p] : NamedParameters()) {
    auto it = by_name.find(name);
    VFM_CHECK(it != by_name.end()) << "LoadFrom: no tensor named " << name;
    VFM_CHECK(it->second.shape() == p.shape()) << "LoadFrom: " << name << " is " << ShapeToString(it->second.shape())
                                               << ", parameter is " << ShapeToString(p.shape());
    p.CopyFrom(it->second);
  }
}

void Module::MoveTo(Device device) {
  for (auto& [name, p] : NamedParameters()) {
    if (p.device() == device) continue;
    p.MoveInto(Tensor::Empty(p.shape(), p.dtype(), device));
    p.ZeroGrad();
    p.set_grad_home(Tensor());
  }
}

namespace {
thread_local CastScope* innermost_cast_scope = nullptr;
}  // namespace

CastScope::CastScope(const Module& module, DType dtype) : dtype_(dtype), outer_(innermost_cast_scope) {
  std::vector<Tensor> params;
  for (const auto& [name, p] : module.NamedParameters())
    if (p.dtype() != dtype) params.push_back(p);
  const std::vector<Tensor> copies = ops::ConvertedCopies(params, dtype);
  for (size_t i = 0; i < params.size(); ++i) copies_.emplace(params[i].impl(), Copy{params[i], copies[i]});
  innermost_cast_scope = this;
}

// Scopes are stack objects (not copyable or movable): they end in the reverse order of their start.
CastScope::~CastScope() { innermost_cast_scope = outer_; }

Tensor CastScope::Lookup(const Tensor& param, DType dtype) {
  for (const CastScope* scope = innermost_cast_scope; scope != nullptr; scope = scope->outer_) {
    if (scope->dtype_ != dtype) continue;
    const auto it = scope->copies_.find(param.impl());
    if (it != scope->copies_.end()) return it->second.values;
  }
  return Tensor();
}

void Module::ZeroGrad() {
  for (auto& [name, p] : NamedParameters()) p.ZeroGrad();
}

Tensor Module::RegisterParameter(const std::string& name, Tensor value) {
  value.set_requires_grad(true);
  params_.emplace_back(name, value);
  return value;
}

Tensor TruncNormal(const Shape& shape, double std, uint64_t seed) {
  Tensor t = Tensor::Empty(shape);
  Rng rng(seed);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v;
    do v = rng.Normal(); while (std::fabs(v) > 2.0f);
    p[i] = float(v * std);
  }
  return t;
}

Tensor KaimingUniform(const Shape& shape, int64_t fan_in, uint64_t seed) {
  const double bound = 1.0 / std::sqrt(double(fan_in));
  return Tensor::Uniform(shape, seed, -bound, bound);
}

Linear::Linear(int64_t in, int64_t out, bool with_bias, uint64_t seed) {
  weight = RegisterParameter("weight", TruncNormal({out, in}, 0.02, seed));
  if (with_bias) bias = RegisterParameter("bias", Tensor::Zeros({out}));
}

LayerNorm::LayerNorm(int64_t dim, double eps) : eps_(eps) {
  weight = RegisterParameter("weight", Tensor::Full({dim}, 1.0));
  bias = RegisterParameter("bias", Tensor::Zeros({dim}));
}

}  // namespace vfm::nn

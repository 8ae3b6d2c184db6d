// Modules own parameters (leaf tensors with requires_grad) under timm-style dotted names and compose ops.
// They never touch buffers directly.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/ops.h"

namespace vfm::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every parameter, depth-first in registration order, named like timm ("blocks.3.attn.qkv.weight").
  NamedTensors NamedParameters() const;
  // Copies values from `source` by name (shapes must match; names missing from source are an error).
  void LoadFrom(const NamedTensors& source);
  void ZeroGrad();
  // Moves every parameter's data to `device` in place (every handle to it sees the move); gradients
  // are dropped. Models are built and initialised on the host (deterministic), then moved.
  void MoveTo(Device device);

 protected:
  Tensor RegisterParameter(const std::string& name, Tensor value);
  template <typename M>
  M* RegisterModule(const std::string& name, std::unique_ptr<M> module) {
    M* raw = module.get();
    children_.emplace_back(name, std::move(module));
    return raw;
  }

 private:
  void Collect(const std::string& prefix, NamedTensors* out) const;
  NamedTensors params_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

// A parameter as used by a forward whose activations have `like`'s dtype: cast (bf16 on the GPU, with
// the gradient flowing back to the f32 master) or, on the f32 CPU path, the parameter itself.
inline Tensor AsTypeOf(const Tensor& param, const Tensor& like) {
  return param.defined() ? ops::Cast(param, like.dtype()) : param;
}

// Initialisers (deterministic from a seed).
Tensor TruncNormal(const Shape& shape, double std, uint64_t seed);  // N(0, std) cut at +-2 std
Tensor KaimingUniform(const Shape& shape, int64_t fan_in, uint64_t seed);  // U(+-1/sqrt(fan_in))

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, uint64_t seed);
  Tensor Forward(const Tensor& x) const { return ops::Linear(x, AsTypeOf(weight, x), AsTypeOf(bias, x)); }
  Tensor weight, bias;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-6);
  Tensor Forward(const Tensor& x) const {
    return ops::LayerNorm(x, AsTypeOf(weight, x), AsTypeOf(bias, x), eps_);
  }
  Tensor weight, bias;

 private:
  double eps_;
};

}  // namespace vfm::nn

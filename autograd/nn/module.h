// Modules own parameters (leaf tensors with requires_grad) under timm-style dotted names and compose ops.
// They never touch buffers directly.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
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
  // and their homes are dropped (lay out autograd/grad_buckets.h after the move). Models are built and initialised on the host (deterministic), then moved.
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

// Parameters converted once for the forwards of a step. While a CastScope lives, AsTypeOf and
// ValuesAsTypeOf give each parameter of `module` the copy in `dtype` made when the scope began: one
// batched conversion of every parameter (ops::ConvertedCopies) instead of one kernel per use (a student
// is used by two forwards a step, each parameter once or more per forward). Every use still is a node of
// its own (a cast, or a Linear / LayerNorm of the master), so the gradients reach the f32 master per use
// and are summed there in f32, exactly as without the scope.
// The parameters must not change while a scope lives (it spans a step's forwards; the optimizer runs
// after). Scopes nest (student and teacher, innermost last); parameters already in `dtype` (the f32
// CPU path) are not copied.
class CastScope {
 public:
  CastScope(const Module& module, DType dtype);
  ~CastScope();
  CastScope(const CastScope&) = delete;
  CastScope& operator=(const CastScope&) = delete;

  // The copy of `param` in `dtype` held by a live scope of this thread, or an undefined tensor.
  static Tensor Lookup(const Tensor& param, DType dtype);

 private:
  struct Copy {
    Tensor param;  // held, so its TensorImpl (the key) cannot be freed and reused while the scope lives
    Tensor values;
  };
  DType dtype_;
  std::unordered_map<const TensorImpl*, Copy> copies_;
  CastScope* outer_;
};

// A parameter's values in `like`'s dtype, outside the graph: a CastScope's copy, or a conversion.
inline Tensor ValuesAsTypeOf(const Tensor& param, const Tensor& like) {
  if (!param.defined() || param.dtype() == like.dtype()) return param;
  const Tensor copy = CastScope::Lookup(param, like.dtype());
  return copy.defined() ? copy : param.To(like.dtype());
}

// A parameter as used by a forward whose activations have `like`'s dtype: cast (bf16 on the GPU, with
// the gradient flowing back to the f32 master; from a CastScope's copy when one holds it) or, on the
// f32 CPU path, the parameter itself.
inline Tensor AsTypeOf(const Tensor& param, const Tensor& like) {
  if (!param.defined() || param.dtype() == like.dtype()) return param;
  return ops::CastFrom(param, ValuesAsTypeOf(param, like));
}

// Initialisers (deterministic from a seed).
Tensor TruncNormal(const Shape& shape, double std, uint64_t seed);  // N(0, std) cut at +-2 std
Tensor KaimingUniform(const Shape& shape, int64_t fan_in, uint64_t seed);  // U(+-1/sqrt(fan_in))

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, uint64_t seed);
  // f32 parameters of a bf16 forward: the mixed-precision product (f32 gradients straight from the GEMM).
  Tensor Forward(const Tensor& x) const {
    if (weight.dtype() == x.dtype()) return ops::Linear(x, weight, bias);
    return ops::LinearMixed(x, weight, ValuesAsTypeOf(weight, x), bias, ValuesAsTypeOf(bias, x));
  }
  Tensor weight, bias;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-6);
  Tensor Forward(const Tensor& x) const {
    if (weight.dtype() == x.dtype()) return ops::LayerNorm(x, weight, bias, eps_);
    return ops::LayerNormMixed(x, weight, ValuesAsTypeOf(weight, x), bias, ValuesAsTypeOf(bias, x), eps_);
  }
  Tensor weight, bias;

 private:
  double eps_;
};

}  // namespace vfm::nn

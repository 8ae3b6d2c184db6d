// Tensor: a strided view (shape, strides, offset, dtype) of a refcounted Storage, plus what reverse-mode
// autograd needs (requires_grad, accumulated grad and where it lives, the node that produced it,
// gradient-ready hooks).
// Copying a Tensor copies the handle, not the data (like torch.Tensor).
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "autograd/check.h"
#include "autograd/dtype.h"
#include "autograd/storage.h"

namespace vfm {

using Shape = std::vector<int64_t>;
std::string ShapeToString(const Shape& shape);
int64_t NumElements(const Shape& shape);
Shape ContiguousStrides(const Shape& shape);

struct Node;
class Tensor;
using GradHook = std::function<void(const Tensor& grad)>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape, strides;
  DType dtype = DType::kF32;
  // Autograd.
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;       // null: no gradient (yet, or this step)
  std::shared_ptr<TensorImpl> grad_home;  // where backward writes it, when preallocated (else a new tensor)
  std::shared_ptr<Node> grad_fn;
  std::vector<GradHook> grad_ready_hooks;
  std::string name;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Factories (uninitialised / filled).
  static Tensor Empty(const Shape& shape, DType dtype = DType::kF32, Device device = Device::CPU());
  static Tensor Zeros(const Shape& shape, DType dtype = DType::kF32, Device device = Device::CPU());
  static Tensor Full(const Shape& shape, double value, DType dtype = DType::kF32, Device device = Device::CPU());
  // Page-locked host memory when the build has CUDA (plain host memory otherwise): a batch staged
  // here uploads asynchronously.
  static Tensor EmptyPinned(const Shape& shape, DType dtype);
  static Tensor FromVector(const std::vector<float>& values, const Shape& shape);
  static Tensor FromVector(const std::vector<double>& values, const Shape& shape);
  // Standard normal / uniform [lo, hi) values from a seeded counter-based generator.
  static Tensor Randn(const Shape& shape, uint64_t seed, DType dtype = DType::kF32);
  static Tensor Uniform(const Shape& shape, uint64_t seed, double lo, double hi, DType dtype = DType::kF32);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int64_t dim() const { return int64_t(impl_->shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return NumElements(impl_->shape); }
  int64_t offset() const { return impl_->offset; }
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage ? impl_->storage->device() : Device::CPU(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }
  size_t nbytes() const { return size_t(numel()) * ElementSize(dtype()); }

  // Typed pointer to the first element (checks the dtype).
  template <typename T> T* data() const {
    VFM_CHECK(DTypeOf<T>() == dtype()) << "tensor is " << DTypeName(dtype()) << ", asked for "
                                       << DTypeName(DTypeOf<T>());
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  // Element access for tests and small host code (any dtype, read as double; respects strides).
  double at(std::initializer_list<int64_t> index) const;
  double item() const;  // single-element tensor
  std::vector<float> ToVector() const;  // contiguous copy, as float

  // A new tensor header over the same storage (for views); carries no autograd state.
  Tensor View(const Shape& shape, const Shape& strides, int64_t offset) const;
  // A contiguous deep copy with no autograd history.
  Tensor Clone() const;
  // This tensor's values, contiguous, with no autograd history: the same storage when it already is
  // (Detach), else a copy (Clone). For kernels that need a flat buffer; ops::Contiguous is the op.
  Tensor Contiguous() const;
  // Same storage, cut from the graph.
  Tensor Detach() const;
  // Element type conversion (a deep copy; no autograd).
  Tensor To(DType dtype) const;
  // A contiguous copy on another device (no autograd). Reading a GPU tensor on the host waits for it.
  Tensor ToDevice(Device device) const;
  // In-place fill/copy without autograd (for optimizers, initialisation, EMA).
  void Fill(double value);
  void CopyFrom(const Tensor& src);
  // Copies this tensor's values into `home` (contiguous, of its shape and dtype, on any device) and makes
  // this tensor a view of it: every handle to it follows (Module::MoveTo; the EMA's flat parameters,
  // trainer/ema.h). Its gradient and gradient home stay.
  void MoveInto(Tensor home);

  // Autograd.
  bool requires_grad() const { return impl_->requires_grad; }
  Tensor& set_requires_grad(bool value);
  Tensor grad() const { return impl_->grad ? Tensor(impl_->grad) : Tensor(); }
  void set_grad(const Tensor& g) { impl_->grad = g.impl_; }
  void ZeroGrad() { impl_->grad.reset(); }  // drops the gradient; its home (below) stays
  // A preallocated place for this leaf's gradient (a slot of autograd/grad_buckets.h's flat buffers):
  // backward then writes its gradient there (adds, when .grad is already the home) and points .grad at
  // it, instead of allocating. An undefined tensor removes the home.
  void set_grad_home(const Tensor& home) { impl_->grad_home = home.impl_; }
  Tensor grad_home() const { return impl_->grad_home ? Tensor(impl_->grad_home) : Tensor(); }
  const std::shared_ptr<Node>& grad_fn() const { return impl_->grad_fn; }
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  // Called once per backward with the leaf's gradient, as soon as it is complete (for the bucketed
  // all-reduce of data parallel training).
  void AddGradReadyHook(GradHook hook) { impl_->grad_ready_hooks.push_back(std::move(hook)); }
  const std::string& name() const { return impl_->name; }
  Tensor& set_name(std::string name);
  // Reverse-mode differentiation of a single-element tensor (d self / d self = 1).
  void Backward() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace vfm

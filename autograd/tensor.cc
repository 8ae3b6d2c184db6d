#include "autograd/tensor.h"

#include <cstring>

#include "autograd/caching_allocator.h"
#include "kernels/cpu/copy.h"
#include "kernels/random.h"
#if VFM_WITH_CUDA
#include "kernels/cuda/copy.h"
#include "kernels/cuda/runtime.h"
#endif

namespace vfm {

std::string ShapeToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape ContiguousStrides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

Tensor Tensor::Empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) VFM_CHECK(d >= 0) << "negative size in shape " << ShapeToString(shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(NumElements(shape)) * ElementSize(dtype), device);
  impl->shape = shape;
  impl->strides = ContiguousStrides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::Zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = Empty(shape, dtype, device);
  if (!t.nbytes()) return t;
  if (device.is_cpu()) {
    std::memset(t.raw_data(), 0, t.nbytes());
  } else {
#if VFM_WITH_CUDA
    cuda::MemsetAsync(t.raw_data(), 0, t.nbytes());
#endif
  }
  return t;
}

Tensor Tensor::EmptyPinned(const Shape& shape, DType dtype) {
#if VFM_WITH_CUDA
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(NumElements(shape)) * ElementSize(dtype), Device::CPU(),
                                            &PinnedAllocator());
  impl->shape = shape;
  impl->strides = ContiguousStrides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
#else
  return Empty(shape, dtype);
#endif
}

Tensor Tensor::Full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = Empty(shape, dtype, device);
  t.Fill(value);
  return t;
}

Tensor Tensor::FromVector(const std::vector<float>& values, const Shape& shape) {
  VFM_CHECK(int64_t(values.size()) == NumElements(shape))
      << values.size() << " values for shape " << ShapeToString(shape);
  Tensor t = Empty(shape, DType::kF32);
  std::memcpy(t.raw_data(), values.data(), t.nbytes());
  return t;
}

Tensor Tensor::FromVector(const std::vector<double>& values, const Shape& shape) {
  VFM_CHECK(int64_t(values.size()) == NumElements(shape))
      << values.size() << " values for shape " << ShapeToString(shape);
  Tensor t = Empty(shape, DType::kF64);
  std::memcpy(t.raw_data(), values.data(), t.nbytes());
  return t;
}

namespace {
template <typename Draw>
Tensor FillRandom(const Shape& shape, DType dtype, uint64_t seed, Draw draw) {
  Tensor t = Tensor::Empty(shape, dtype);
  Rng rng(seed);
  const int64_t n = t.numel();
  if (dtype == DType::kF32) {
    float* p = t.data<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = float(draw(rng));
  } else {
    VFM_CHECK(dtype == DType::kF64) << "random tensors are f32 or f64";
    double* p = t.data<double>();
    for (int64_t i = 0; i < n; ++i) p[i] = draw(rng);
  }
  return t;
}
}  // namespace

Tensor Tensor::Randn(const Shape& shape, uint64_t seed, DType dtype) {
  return FillRandom(shape, dtype, seed, [](Rng& r) { return double(r.Normal()); });
}

Tensor Tensor::Uniform(const Shape& shape, uint64_t seed, double lo, double hi, DType dtype) {
  return FillRandom(shape, dtype, seed, [=](Rng& r) { return lo + (hi - lo) * r.UniformDouble(); });
}

int64_t Tensor::size(int64_t d) const {
  const int64_t n = dim();
  if (d < 0) d += n;
  VFM_CHECK(d >= 0 && d < n) << "dimension " << d << " out of range for " << ShapeToString(shape());
  return impl_->shape[d];
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (impl_->shape[i] != 1 && impl_->strides[i] != expected) return false;
    expected *= impl_->shape[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * int64_t(ElementSize(dtype()));
}

namespace {
double LoadAsDouble(const void* base, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::kF32: return static_cast<const float*>(base)[i];
    case DType::kF64: return static_cast<const double*>(base)[i];
    case DType::kBF16: return Bf16ToFloat(static_cast<const bf16*>(base)[i]);
    case DType::kI32: return static_cast<const int32_t*>(base)[i];
    case DType::kI64: return double(static_cast<const int64_t*>(base)[i]);
    case DType::kU8: return static_cast<const uint8_t*>(base)[i];
  }
  return 0;
}

void StoreDouble(void* base, DType dtype, int64_t i, double v) {
  switch (dtype) {
    case DType::kF32: static_cast<float*>(base)[i] = float(v); break;
    case DType::kF64: static_cast<double*>(base)[i] = v; break;
    case DType::kBF16: static_cast<bf16*>(base)[i] = FloatToBf16(float(v)); break;
    case DType::kI32: static_cast<int32_t*>(base)[i] = int32_t(v); break;
    case DType::kI64: static_cast<int64_t*>(base)[i] = int64_t(v); break;
    case DType::kU8: static_cast<uint8_t*>(base)[i] = uint8_t(v); break;
  }
}

// Calls f(element offset) for every element of a strided view, in row-major order.
template <typename F>
void ForEachOffset(const Shape& shape, const Shape& strides, F f) {
  const int64_t n = NumElements(shape), nd = int64_t(shape.size());
  std::vector<int64_t> idx(nd, 0);
  int64_t off = 0;
  for (int64_t k = 0; k < n; ++k) {
    f(off);
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}
}  // namespace

double Tensor::at(std::initializer_list<int64_t> index) const {
  VFM_CHECK(int64_t(index.size()) == dim()) << "index rank " << index.size() << " for " << ShapeToString(shape());
  VFM_CHECK(device().is_cpu()) << "at() reads host tensors only (copy with ToDevice first)";
  int64_t off = 0, d = 0;
  for (int64_t i : index) {
    VFM_CHECK(i >= 0 && i < shape()[d]) << "index out of range";
    off += i * strides()[d++];
  }
  return LoadAsDouble(raw_data(), dtype(), off);
}

double Tensor::item() const {
  VFM_CHECK(numel() == 1) << "item() of a tensor with " << numel() << " elements";
  if (!device().is_cpu()) return ToDevice(Device::CPU()).item();
  return LoadAsDouble(raw_data(), dtype(), 0);
}

std::vector<float> Tensor::ToVector() const {
  if (!device().is_cpu()) return ToDevice(Device::CPU()).ToVector();
  std::vector<float> out;
  out.reserve(size_t(numel()));
  const void* base = raw_data();
  ForEachOffset(shape(), strides(), [&](int64_t off) { out.push_back(float(LoadAsDouble(base, dtype(), off))); });
  return out;
}

Tensor Tensor::View(const Shape& shape, const Shape& strides, int64_t offset) const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::Clone() const {
  Tensor out = Empty(shape(), dtype(), device());
  out.CopyFrom(*this);
  return out;
}

Tensor Tensor::Detach() const { return View(shape(), strides(), offset()); }

Tensor Tensor::Contiguous() const { return is_contiguous() ? Detach() : Clone(); }

Tensor Tensor::To(DType target) const {
  Tensor out = Empty(shape(), target, device());
  out.CopyFrom(*this);
  return out;
}

Tensor Tensor::ToDevice(Device target) const {
  Tensor out = Empty(shape(), dtype(), target);
  out.CopyFrom(*this);
  return out;
}

void Tensor::MoveInto(Tensor home) {
  VFM_CHECK(home.shape() == shape() && home.dtype() == dtype() && home.is_contiguous())
      << "MoveInto: a " << (home.is_contiguous() ? "" : "non-") << "contiguous " << DTypeName(home.dtype()) << " "
      << ShapeToString(home.shape()) << " home for a " << DTypeName(dtype()) << " " << ShapeToString(shape())
      << " tensor";
  home.CopyFrom(*this);
  impl_->storage = home.storage();
  impl_->offset = home.offset();
  impl_->strides = home.strides();
}

void Tensor::Fill(double value) {
  if (!device().is_cpu()) {
#if VFM_WITH_CUDA
    if (!is_contiguous()) {
      Tensor filled = Empty(shape(), dtype(), device());
      filled.Fill(value);
      CopyFrom(filled);
      return;
    }
    switch (dtype()) {
      case DType::kF32: cuda::Fill(data<float>(), numel(), value); return;
      case DType::kBF16: cuda::Fill(data<bf16>(), numel(), value); return;
      case DType::kI32: cuda::Fill(data<int32_t>(), numel(), value); return;
      case DType::kI64: cuda::Fill(data<int64_t>(), numel(), value); return;
      case DType::kU8: cuda::Fill(data<uint8_t>(), numel(), value); return;
      case DType::kF64: break;
    }
    VFM_CHECK(false) << "Fill: " << DTypeName(dtype()) << " tensors are not supported on " << device().ToString();
#endif
  }
  void* base = raw_data();
  ForEachOffset(shape(), strides(), [&](int64_t off) { StoreDouble(base, dtype(), off, value); });
}

#if VFM_WITH_CUDA
namespace {
cuda::StridedCopyLayout LayoutOf(const Tensor& src, const Tensor& dst) {
  VFM_CHECK(src.dim() <= cuda::kMaxDims) << "strided copy of a " << src.dim() << "-d tensor";
  cuda::StridedCopyLayout layout;
  layout.ndim = int(src.dim());
  for (int64_t d = 0; d < src.dim(); ++d) {
    layout.shape[d] = src.shape()[d];
    layout.src_strides[d] = src.strides()[d];
    layout.dst_strides[d] = dst.strides()[d];
  }
  return layout;
}

// Copies between tensors of which at least one is on a GPU. Cross-device copies move contiguous bytes
// of one dtype; strides and dtype conversions are handled on whichever side holds the tensor.
void CopyWithDevice(const Tensor& src, Tensor& dst) {
  const bool same_device = src.device() == dst.device();
  if (src.dtype() != dst.dtype()) {
    const Tensor moved = same_device ? src : src.ToDevice(dst.device());
    if (dst.device().is_cpu()) return dst.CopyFrom(moved);
    const Tensor from = moved.Contiguous();
    Tensor into = dst.is_contiguous() ? dst : Tensor::Empty(dst.shape(), dst.dtype(), dst.device());
    if (from.dtype() == DType::kF32 && into.dtype() == DType::kBF16) {
      cuda::Convert(from.data<float>(), into.data<bf16>(), from.numel());
    } else {
      VFM_CHECK(from.dtype() == DType::kBF16 && into.dtype() == DType::kF32)
          << "no conversion from " << DTypeName(from.dtype()) << " to " << DTypeName(into.dtype()) << " on "
          << dst.device().ToString();
      cuda::Convert(from.data<bf16>(), into.data<float>(), from.numel());
    }
    if (!dst.is_contiguous()) dst.CopyFrom(into);
    return;
  }
  if (same_device) {  // device to device, any strides
    cuda::CopyStrided(src.raw_data(), dst.raw_data(), LayoutOf(src, dst), int(ElementSize(dst.dtype())));
    return;
  }
  const Tensor from = src.Contiguous();
  Tensor into = dst.is_contiguous() ? dst : Tensor::Empty(dst.shape(), dst.dtype(), dst.device());
  if (into.device().is_cpu()) {
    cuda::CopySync(into.raw_data(), from.raw_data(), from.nbytes());
  } else {
    cuda::CopyAsync(into.raw_data(), from.raw_data(), from.nbytes());
    // A pinned source is truly asynchronous: its block must not be reused before the copy has run.
    if (from.storage()->allocator() == &PinnedAllocator())
      PinnedAllocator().RecordStream(from.storage()->data(), cuda::ComputeStream());
  }
  if (!dst.is_contiguous()) dst.CopyFrom(into);
}
}  // namespace
#endif

void Tensor::CopyFrom(const Tensor& src) {
  VFM_CHECK(src.shape() == shape()) << "CopyFrom " << ShapeToString(src.shape()) << " into "
                                    << ShapeToString(shape());
  if (!device().is_cpu() || !src.device().is_cpu()) {
#if VFM_WITH_CUDA
    CopyWithDevice(src, *this);
    return;
#else
    VFM_CHECK(false) << "CopyFrom " << src.device().ToString() << " to " << device().ToString()
                     << " in a build without CUDA";
#endif
  }
  if (src.dtype() == dtype()) {
    cpu::CopyStrided(src.raw_data(), src.strides(), raw_data(), strides(), shape(), ElementSize(dtype()));
    return;
  }
  // A dtype conversion, element by element.
  std::vector<int64_t> src_offsets;
  src_offsets.reserve(size_t(numel()));
  ForEachOffset(src.shape(), src.strides(), [&](int64_t off) { src_offsets.push_back(off); });
  const void* s = src.raw_data();
  void* d = raw_data();
  size_t k = 0;
  ForEachOffset(shape(), strides(), [&](int64_t off) {
    StoreDouble(d, dtype(), off, LoadAsDouble(s, src.dtype(), src_offsets[k++]));
  });
}

Tensor& Tensor::set_requires_grad(bool value) {
  VFM_CHECK(is_leaf()) << "set_requires_grad on a non-leaf tensor";
  VFM_CHECK(!value || dtype() == DType::kF32 || dtype() == DType::kF64 || dtype() == DType::kBF16)
      << "only floating-point tensors can require grad";
  impl_->requires_grad = value;
  return *this;
}

Tensor& Tensor::set_name(std::string name) {
  impl_->name = std::move(name);
  return *this;
}

}  // namespace vfm

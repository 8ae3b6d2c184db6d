// Helpers shared by the op implementations (not part of the public op set).
#pragma once
#include <algorithm>

#include "autograd/ops.h"

namespace vfm::ops::internal {

// Calls f(T{}) with T = float or double according to dtype; other dtypes are an error naming `op`.
template <typename F>
auto DispatchFloat(DType dtype, const char* op, F&& f) {
  if (dtype == DType::kF32) return f(float{});
  VFM_CHECK(dtype == DType::kF64) << op << ": needs an f32 or f64 tensor, got " << DTypeName(dtype);
  return f(double{});
}

// Runs `cpu` with T = float or double when t is on the host, or `cuda` with T = float or bf16 when it
// is on a GPU. Both are generic lambdas taking a T{} tag; the CUDA one is instantiated only in CUDA
// builds, so an op file calls cuda:: kernels without #if.
template <typename Cpu, typename Cuda>
auto DispatchDevice(const char* op, const Tensor& t, Cpu&& cpu, Cuda&& cuda) {
#if VFM_WITH_CUDA
  if (!t.device().is_cpu()) {
    if (t.dtype() == DType::kF32) return cuda(float{});
    VFM_CHECK(t.dtype() == DType::kBF16) << op << ": needs an f32 or bf16 tensor on " << t.device().ToString()
                                         << ", got " << DTypeName(t.dtype());
    return cuda(bf16{});
  }
#else
  VFM_CHECK(t.device().is_cpu()) << op << ": tensor on " << t.device().ToString() << " in a build without CUDA";
#endif
  return DispatchFloat(t.dtype(), op, cpu);
}

void CheckSameDType(const char* op, const Tensor& a, const Tensor& b);
// Every tensor an op combines must be on one device (no implicit copies).
void CheckSameDevice(const char* op, const Tensor& a, const Tensor& b);
void CheckCpu(const char* op, const Tensor& t);

// numpy broadcasting: the shape of a op b, and an operand's strides aligned to that shape
// (0 along broadcast dimensions).
Shape BroadcastShapes(const char* op, const Shape& a, const Shape& b);
Shape BroadcastStrides(const Tensor& t, const Shape& out_shape);
// A contiguous copy of t broadcast to `shape` (no autograd).
Tensor BroadcastCopy(const Tensor& t, const Shape& shape);
// Sums g over the dimensions along which a tensor of `shape` was broadcast to g's shape (no autograd).
Tensor SumToShape(const Tensor& g, const Shape& shape);
// out[i] = f(x[i]) elementwise over a contiguous copy of x (no autograd): the body of the pointwise ops.
template <typename F>
Tensor MapElementwise(const char* op, const Tensor& x, F f) {
  CheckCpu(op, x);
  const Tensor src = x.Contiguous();
  Tensor out = Tensor::Empty(x.shape(), x.dtype());
  DispatchFloat(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* s = src.data<T>();
    T* d = out.data<T>();
    const int64_t n = out.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) d[i] = T(f(s[i]));
  });
  return out;
}

// out[i] = f(x[i]) on the GPU over a contiguous copy of x: `launch(src, dst, n)` calls the kernel with
// T = float or bf16 pointers (the device counterpart of MapElementwise).
template <typename Launch>
Tensor MapOnDevice(const char* op, const Tensor& x, Launch launch) {
  const Tensor src = x.Contiguous();
  Tensor out = Tensor::Empty(x.shape(), x.dtype(), x.device());
  DispatchDevice(
      op, x, [](auto) { VFM_CHECK(false) << "MapOnDevice on a host tensor"; },
      [&](auto tag) {
        using T = decltype(tag);
        launch(static_cast<const T*>(src.data<T>()), out.data<T>(), out.numel());
      });
  return out;
}

// Device memory for a kernel's scratch, from the caching allocator (freed, stream-ordered, when the
// returned tensor goes).
inline Tensor Scratch(size_t nbytes, Device device) {
  return Tensor::Empty({int64_t(std::max<size_t>(nbytes, 1))}, DType::kU8, device);
}

// Normalises a possibly negative dimension index.
int64_t WrapDim(int64_t dim, int64_t ndim);

}  // namespace vfm::ops::internal

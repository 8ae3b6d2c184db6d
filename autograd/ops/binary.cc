// Elementwise arithmetic with numpy broadcasting; backward sums each gradient back to its input's shape.
// On a GPU the same ops run the kernels of kernels/cuda/binary.h (f32 or bf16).
#include <cstring>

#include "autograd/ops/common.h"
#include "kernels/cpu/binary.h"
#include "kernels/cuda/binary.h"

namespace vfm::ops {
using namespace internal;

namespace {
// The output shape and operand strides (slot k = the k-th entry of `strides`) as the CUDA kernels take
// them.
cuda::BroadcastLayout DeviceLayout(const char* name, const Shape& shape, std::initializer_list<Shape> strides) {
  VFM_CHECK(shape.size() <= size_t(cuda::kMaxBroadcastDims))
      << name << ": " << shape.size() << "-d operands on the GPU (at most " << cuda::kMaxBroadcastDims << ")";
  cuda::BroadcastLayout layout;
  layout.ndim = int(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) layout.shape[d] = shape[d];
  int k = 0;
  for (const Shape& s : strides) {
    for (size_t d = 0; d < shape.size(); ++d) layout.strides[k][d] = s[d];
    ++k;
  }
  return layout;
}

template <typename Op>
Tensor Broadcast(const char* name, cuda::BinaryOp kind, const Tensor& a, const Tensor& b, Op op) {
  CheckSameDType(name, a, b);
  CheckSameDevice(name, a, b);
  const Shape shape = BroadcastShapes(name, a.shape(), b.shape());
  Tensor out = Tensor::Empty(shape, a.dtype(), a.device());
  DispatchDevice(
      name, a,
      [&](auto tag) {
        using T = decltype(tag);
        cpu::BroadcastBinary<T>(a.data<T>(), BroadcastStrides(a, shape), b.data<T>(), BroadcastStrides(b, shape),
                                out.data<T>(), shape, [&](T x, T y) { return op(x, y); });
      },
      [&](auto tag) {
        using T = decltype(tag);
        cuda::BroadcastBinary<T>(kind, a.data<T>(), b.data<T>(), out.data<T>(),
                                 DeviceLayout(name, shape, {BroadcastStrides(a, shape), BroadcastStrides(b, shape)}));
      });
  return out;
}

}  // namespace

Tensor Add(const Tensor& a, const Tensor& b) {
  Tensor out = Broadcast("add", cuda::BinaryOp::kAdd, a, b, [](auto x, auto y) { return x + y; });
  const Shape sa = a.shape(), sb = b.shape();
  RecordOp(out, "add", {a, b}, [sa, sb](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{SumToShape(g, sa), SumToShape(g, sb)};
  });
  return out;
}

Tensor Sub(const Tensor& a, const Tensor& b) {
  Tensor out = Broadcast("sub", cuda::BinaryOp::kSub, a, b, [](auto x, auto y) { return x - y; });
  const Shape sa = a.shape(), sb = b.shape();
  RecordOp(out, "sub", {a, b}, [sa, sb](const Tensor& g, const std::vector<bool>& needs) {
    return std::vector<Tensor>{SumToShape(g, sa), needs[1] ? SumToShape(Scale(g, -1.0), sb) : Tensor()};
  });
  return out;
}

Tensor Mul(const Tensor& a, const Tensor& b) {
  Tensor out = Broadcast("mul", cuda::BinaryOp::kMul, a, b, [](auto x, auto y) { return x * y; });
  RecordOp(out, "mul", {a, b}, [a, b](const Tensor& g, const std::vector<bool>& needs) {
    return std::vector<Tensor>{needs[0] ? SumToShape(Mul(g, b.Detach()), a.shape()) : Tensor(),
                               needs[1] ? SumToShape(Mul(g, a.Detach()), b.shape()) : Tensor()};
  });
  return out;
}

Tensor Div(const Tensor& a, const Tensor& b) {
  Tensor out = Broadcast("div", cuda::BinaryOp::kDiv, a, b, [](auto x, auto y) { return x / y; });
  // Saved outputs are detached: a closure holding `out` itself would keep its own node alive.
  RecordOp(out, "div", {a, b}, [a, b, q = out.Detach()](const Tensor& g, const std::vector<bool>& needs) {
    const Tensor bd = b.Detach();
    Tensor ga, gb;
    if (needs[0]) ga = SumToShape(Div(g, bd), a.shape());
    // d(a/b)/db = -(a/b)/b
    if (needs[1]) gb = SumToShape(Scale(Div(Mul(g, q), bd), -1.0), b.shape());
    return std::vector<Tensor>{ga, gb};
  });
  return out;
}

Tensor Scale(const Tensor& x, double s) {
  Tensor out = x.device().is_cpu()
                   ? MapElementwise("scale", x, [s](auto v) { return v * decltype(v)(s); })
                   : MapOnDevice("scale", x,
                                 [s](const auto* src, auto* dst, int64_t n) { cuda::Scale(src, dst, n, s); });
  RecordOp(out, "scale", {x}, [s](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{Scale(g, s)};
  });
  return out;
}

Tensor AddScalar(const Tensor& x, double s) {
  Tensor out = x.device().is_cpu()
                   ? MapElementwise("add_scalar", x, [s](auto v) { return v + decltype(v)(s); })
                   : MapOnDevice("add_scalar", x,
                                 [s](const auto* src, auto* dst, int64_t n) { cuda::AddScalar(src, dst, n, s); });
  RecordOp(out, "add_scalar", {x}, [](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g};
  });
  return out;
}

Tensor Where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  VFM_CHECK(mask.dtype() == DType::kU8) << "where: mask must be u8, got " << DTypeName(mask.dtype());
  CheckSameDType("where", a, b);
  CheckSameDevice("where", a, b);
  CheckSameDevice("where", mask, a);
  const Shape shape = BroadcastShapes("where", mask.shape(), BroadcastShapes("where", a.shape(), b.shape()));
  Tensor m, out;
  if (a.device().is_cpu()) {
    // The mask as 0/1 in the value type, broadcast; out = m ? a : b.
    m = BroadcastCopy(mask.To(a.dtype()), shape);
    Tensor aa = BroadcastCopy(a, shape), bb = BroadcastCopy(b, shape);
    out = Tensor::Empty(shape, a.dtype());
    DispatchFloat(a.dtype(), "where", [&](auto tag) {
      using T = decltype(tag);
      const T *pm = m.data<T>(), *pa = aa.data<T>(), *pb = bb.data<T>();
      T* po = out.data<T>();
      for (int64_t i = 0; i < out.numel(); ++i) po[i] = pm[i] != T(0) ? pa[i] : pb[i];
    });
  } else {
    // One kernel reads the three operands through broadcast strides; the mask values m (what the
    // backward multiplies by, as on the host) are made only when a gradient will be needed.
    out = Tensor::Empty(shape, a.dtype(), a.device());
    const bool needs_m = AnyRequiresGrad({&a, &b});
    if (needs_m) m = Tensor::Empty(shape, a.dtype(), a.device());
    DispatchDevice(
        "where", a, [](auto) { VFM_CHECK(false) << "where: host tensor on the device path"; },
        [&](auto tag) {
          using T = decltype(tag);
          const cuda::BroadcastLayout layout = DeviceLayout(
              "where", shape, {BroadcastStrides(a, shape), BroadcastStrides(b, shape), BroadcastStrides(mask, shape)});
          cuda::BroadcastWhere<T>(mask.data<uint8_t>(), a.data<T>(), b.data<T>(), out.data<T>(), layout);
          if (needs_m) cuda::BroadcastMaskValues<T>(mask.data<uint8_t>(), m.data<T>(), layout);
        });
  }
  const Shape sa = a.shape(), sb = b.shape();
  RecordOp(out, "where", {a, b}, [m, sa, sb](const Tensor& g, const std::vector<bool>& needs) {
    Tensor ga, gb;
    if (needs[0]) ga = SumToShape(Mul(g, m), sa);
    if (needs[1]) gb = SumToShape(Mul(g, AddScalar(Scale(m, -1.0), 1.0)), sb);
    return std::vector<Tensor>{ga, gb};
  });
  return out;
}

void AddInPlace(Tensor& a, const Tensor& b, double alpha) {
  VFM_CHECK(a.shape() == b.shape()) << "add_in_place: " << ShapeToString(a.shape()) << " += "
                                    << ShapeToString(b.shape());
  CheckSameDType("add_in_place", a, b);
  CheckSameDevice("add_in_place", a, b);
  VFM_CHECK(a.is_contiguous()) << "add_in_place: destination must be contiguous";
  const Tensor src = b.Contiguous();
  DispatchDevice(
      "add_in_place", a,
      [&](auto tag) {
        using T = decltype(tag);
        T* d = a.data<T>();
        const T* s = src.data<T>();
        const T al = T(alpha);
        const int64_t n = a.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; ++i) d[i] += al * s[i];
      },
      [&](auto tag) {
        using T = decltype(tag);
        cuda::Axpy<T>(a.data<T>(), src.data<T>(), a.numel(), alpha);
      });
}

}  // namespace vfm::ops

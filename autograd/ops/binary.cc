// Elementwise arithmetic with numpy broadcasting; backward sums each gradient back to its input's shape.
#include <cstring>

#include "autograd/ops/common.h"
#include "kernels/cpu/broadcast.h"

namespace vfm::ops {
using namespace internal;

namespace {
template <typename Op>
Tensor Broadcast(const char* name, const Tensor& a, const Tensor& b, Op op) {
  CheckSameDType(name, a, b);
  CheckCpu(name, a);
  CheckCpu(name, b);
  const Shape shape = BroadcastShapes(name, a.shape(), b.shape());
  Tensor out = Tensor::Empty(shape, a.dtype());
  DispatchFloat(a.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    cpu::BroadcastBinary<T>(a.data<T>(), BroadcastStrides(a, shape), b.data<T>(), BroadcastStrides(b, shape),
                            out.data<T>(), shape, [&](T x, T y) { return op(x, y); });
  });
  return out;
}

}  // namespace

Tensor Add(const Tensor& a, const Tensor& b) {
  Tensor out = Broadcast("add", a, b, [](auto x, auto y) { return x + y; });
  const Shape sa = a.shape(), sb = b.shape();
  RecordOp(out, "add", {a, b}, [sa, sb](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{SumToShape(g, sa), SumToShape(g, sb)};
  });
  return out;
}

Tensor Sub(const Tensor& a, const Tensor& b) {
  Tensor out = Broadcast("sub", a, b, [](auto x, auto y) { return x - y; });
  const Shape sa = a.shape(), sb = b.shape();
  RecordOp(out, "sub", {a, b}, [sa, sb](const Tensor& g, const std::vector<bool>& needs) {
    return std::vector<Tensor>{SumToShape(g, sa), needs[1] ? SumToShape(Scale(g, -1.0), sb) : Tensor()};
  });
  return out;
}

Tensor Mul(const Tensor& a, const Tensor& b) {
  Tensor out = Broadcast("mul", a, b, [](auto x, auto y) { return x * y; });
  RecordOp(out, "mul", {a, b}, [a, b](const Tensor& g, const std::vector<bool>& needs) {
    return std::vector<Tensor>{needs[0] ? SumToShape(Mul(g, b.Detach()), a.shape()) : Tensor(),
                               needs[1] ? SumToShape(Mul(g, a.Detach()), b.shape()) : Tensor()};
  });
  return out;
}

Tensor Div(const Tensor& a, const Tensor& b) {
  Tensor out = Broadcast("div", a, b, [](auto x, auto y) { return x / y; });
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
  Tensor out = MapElementwise("scale", x, [s](auto v) { return v * decltype(v)(s); });
  RecordOp(out, "scale", {x}, [s](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{Scale(g, s)};
  });
  return out;
}

Tensor AddScalar(const Tensor& x, double s) {
  Tensor out = MapElementwise("add_scalar", x, [s](auto v) { return v + decltype(v)(s); });
  RecordOp(out, "add_scalar", {x}, [](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g};
  });
  return out;
}

Tensor Where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  VFM_CHECK(mask.dtype() == DType::kU8) << "where: mask must be u8, got " << DTypeName(mask.dtype());
  CheckSameDType("where", a, b);
  const Shape shape = BroadcastShapes("where", mask.shape(), BroadcastShapes("where", a.shape(), b.shape()));
  // The mask as 0/1 in the value type, broadcast; out = m ? a : b.
  Tensor m = BroadcastCopy(mask.To(a.dtype()), shape);
  Tensor aa = BroadcastCopy(a, shape), bb = BroadcastCopy(b, shape);
  Tensor out = Tensor::Empty(shape, a.dtype());
  DispatchFloat(a.dtype(), "where", [&](auto tag) {
    using T = decltype(tag);
    const T *pm = m.data<T>(), *pa = aa.data<T>(), *pb = bb.data<T>();
    T* po = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) po[i] = pm[i] != T(0) ? pa[i] : pb[i];
  });
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
  VFM_CHECK(a.is_contiguous()) << "add_in_place: destination must be contiguous";
  const Tensor src = b.is_contiguous() ? b : b.Clone();
  DispatchFloat(a.dtype(), "add_in_place", [&](auto tag) {
    using T = decltype(tag);
    T* d = a.data<T>();
    const T* s = src.data<T>();
    const T al = T(alpha);
    const int64_t n = a.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) d[i] += al * s[i];
  });
}

}  // namespace vfm::ops

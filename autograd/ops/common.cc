#include "autograd/ops/common.h"

#include "kernels/cpu/binary.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cuda/binary.h"
#include "kernels/cuda/reduce.h"

namespace vfm::ops::internal {

void CheckSameDType(const char* op, const Tensor& a, const Tensor& b) {
  VFM_CHECK(a.dtype() == b.dtype()) << op << ": dtypes differ (" << DTypeName(a.dtype()) << " vs "
                                    << DTypeName(b.dtype()) << ")";
}

void CheckSameDevice(const char* op, const Tensor& a, const Tensor& b) {
  VFM_CHECK(a.device() == b.device()) << op << ": tensors on " << a.device().ToString() << " and "
                                      << b.device().ToString();
}

void CheckCpu(const char* op, const Tensor& t) {
  VFM_CHECK(t.device().is_cpu()) << op << ": tensor on " << t.device().ToString()
                                 << " but this op reads it on the host";
}

Shape BroadcastShapes(const char* op, const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    VFM_CHECK(da == db || da == 1 || db == 1)
        << op << ": shapes " << ShapeToString(a) << " and " << ShapeToString(b) << " do not broadcast";
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape BroadcastStrides(const Tensor& t, const Shape& out_shape) {
  const size_t n = out_shape.size(), k = t.shape().size();
  Shape strides(n, 0);
  for (size_t i = 0; i < k; ++i) {
    const size_t o = n - k + i;
    strides[o] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  }
  return strides;
}

Tensor BroadcastCopy(const Tensor& t, const Shape& shape) {
  if (!t.device().is_cpu()) {
    // On a GPU: a strided device copy from a view of t with stride 0 along the broadcast dimensions.
    Tensor out = Tensor::Empty(shape, t.dtype(), t.device());
    out.CopyFrom(t.View(shape, BroadcastStrides(t, shape), t.offset()));
    return out;
  }
  Tensor out = Tensor::Empty(shape, t.dtype());
  DispatchFloat(t.dtype(), "broadcast", [&](auto tag) {
    using T = decltype(tag);
    const Shape s = BroadcastStrides(t, shape);
    cpu::BroadcastBinary<T>(t.data<T>(), s, t.data<T>(), s, out.data<T>(), shape, [](T x, T) { return x; });
  });
  return out;
}

namespace {
// The body of SumToShape for one element type: cur is summed over each dimension where it differs from
// `shape` (leading dimensions that `shape` lacks, then size-1 dimensions), one dimension at a time, by
// sum_middle_axis(x, out, outer, n, inner) (the CPU or the CUDA kernel). Returns the contiguous result
// with cur's rank.
template <typename T, typename SumMiddleAxisFn>
Tensor SumOverBroadcastDims(Tensor cur, const Shape& g_shape, const Shape& shape, SumMiddleAxisFn sum_middle_axis) {
  const int64_t extra = cur.dim() - int64_t(shape.size());
  VFM_CHECK(extra >= 0) << "SumToShape: " << ShapeToString(g_shape) << " to " << ShapeToString(shape);
  Shape cur_shape = cur.shape();
  auto reduce = [&](int64_t d) {  // sum over dimension d of cur (kept as size 1)
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < d; ++i) outer *= cur_shape[i];
    for (int64_t i = d + 1; i < int64_t(cur_shape.size()); ++i) inner *= cur_shape[i];
    Shape next = cur_shape;
    next[d] = 1;
    Tensor out = Tensor::Empty(next, cur.dtype(), cur.device());
    sum_middle_axis(cur.template data<T>(), out.template data<T>(), outer, cur_shape[d], inner);
    cur = out;
    cur_shape = next;
  };
  for (int64_t d = 0; d < cur.dim(); ++d) {
    const int64_t target = d < extra ? 1 : shape[d - extra];
    if (cur_shape[d] != target) {
      VFM_CHECK(target == 1) << "SumToShape: " << ShapeToString(g_shape) << " to " << ShapeToString(shape);
      reduce(d);
    }
  }
  return cur;
}
}  // namespace

Tensor SumToShape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  Tensor cur = g.Contiguous();
  cur = DispatchDevice(
      "sum_to_shape", g,
      [&](auto tag) {
        using T = decltype(tag);
        return SumOverBroadcastDims<T>(cur, g.shape(), shape, [](const T* x, T* out, int64_t o, int64_t n, int64_t i) {
          cpu::SumMiddleAxis<T>(x, out, o, n, i);
        });
      },
      [&](auto tag) {
        using T = decltype(tag);
        return SumOverBroadcastDims<T>(cur, g.shape(), shape, [](const T* x, T* out, int64_t o, int64_t n, int64_t i) {
          cuda::SumMiddleAxis<T>(x, out, o, n, i);
        });
      });
  return cur.View(shape, ContiguousStrides(shape), cur.offset());
}

int64_t WrapDim(int64_t dim, int64_t ndim) {
  const int64_t d = dim < 0 ? dim + ndim : dim;
  VFM_CHECK(d >= 0 && d < ndim) << "dimension " << dim << " out of range for a " << ndim << "-d tensor";
  return d;
}

}  // namespace vfm::ops::internal

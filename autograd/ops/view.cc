// Views share storage with their input; their backward maps the gradient back to the input's shape.
// Device-agnostic: copies go through Tensor::Clone / CopyFrom, which run on the tensor's device.
#include "autograd/ops/common.h"

namespace vfm::ops {
using namespace internal;

Tensor Contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = x.Clone();
  RecordOp(out, "contiguous", {x}, [](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g};
  });
  return out;
}

Tensor Reshape(const Tensor& x, Shape shape) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      VFM_CHECK(infer < 0) << "reshape: more than one -1 in " << ShapeToString(shape);
      infer = int64_t(i);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) shape[infer] = known ? x.numel() / known : 0;
  VFM_CHECK(NumElements(shape) == x.numel())
      << "reshape: " << ShapeToString(x.shape()) << " to " << ShapeToString(shape);
  const Tensor src = x.Contiguous();
  Tensor out = src.View(shape, ContiguousStrides(shape), src.offset());
  const Shape in_shape = x.shape();
  RecordOp(out, "reshape", {x}, [in_shape](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{Reshape(g, in_shape)};
  });
  return out;
}

Tensor Transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  dim0 = WrapDim(dim0, x.dim());
  dim1 = WrapDim(dim1, x.dim());
  Shape shape = x.shape(), strides = x.strides();
  std::swap(shape[dim0], shape[dim1]);
  std::swap(strides[dim0], strides[dim1]);
  Tensor out = x.View(shape, strides, x.offset());
  RecordOp(out, "transpose", {x}, [dim0, dim1](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{Transpose(g, dim0, dim1)};
  });
  return out;
}

Tensor Slice(const Tensor& x, int64_t dim, int64_t start, int64_t end) {
  dim = WrapDim(dim, x.dim());
  VFM_CHECK(0 <= start && start <= end && end <= x.shape()[dim])
      << "slice [" << start << ", " << end << ") of dim " << dim << " of " << ShapeToString(x.shape());
  Shape shape = x.shape();
  shape[dim] = end - start;
  Tensor out = x.View(shape, x.strides(), x.offset() + start * x.strides()[dim]);
  const Shape in_shape = x.shape();
  RecordOp(out, "slice", {x}, [=](const Tensor& g, const std::vector<bool>&) {
    Tensor gx = Tensor::Zeros(in_shape, g.dtype(), g.device());
    Tensor window = gx.View(g.shape(), gx.strides(), start * gx.strides()[dim]);
    window.CopyFrom(g);
    return std::vector<Tensor>{gx};
  });
  return out;
}

Tensor Select(const Tensor& x, int64_t dim, int64_t index) {
  dim = WrapDim(dim, x.dim());
  Tensor s = Slice(x, dim, index, index + 1);
  Shape shape = x.shape();
  shape.erase(shape.begin() + dim);
  return Reshape(s, shape);
}

Tensor Expand(const Tensor& x, const Shape& shape) {
  const Shape out_shape = BroadcastShapes("expand", x.shape(), shape);
  VFM_CHECK(out_shape == shape) << "expand: " << ShapeToString(x.shape()) << " to " << ShapeToString(shape);
  Tensor out = BroadcastCopy(x, shape);
  const Shape in_shape = x.shape();
  RecordOp(out, "expand", {x}, [in_shape](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{SumToShape(g, in_shape)};
  });
  return out;
}

}  // namespace vfm::ops

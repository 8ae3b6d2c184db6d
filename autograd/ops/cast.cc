#include "autograd/ops/common.h"
#include "kernels/cuda/copy.h"

namespace vfm::ops {

// Mixed precision enters the graph here: an f32 parameter cast to bf16 for a GPU forward gets its
// gradient back in f32, and the engine accumulates it there (fp32 gradient accumulation).
Tensor Cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  return CastFrom(x, x.To(dtype));
}

Tensor CastFrom(const Tensor& x, const Tensor& converted) {
  VFM_CHECK(converted.shape() == x.shape() && converted.device() == x.device())
      << "cast of " << ShapeToString(x.shape()) << " on " << x.device().ToString() << " from values "
      << ShapeToString(converted.shape()) << " on " << converted.device().ToString();
  Tensor out = converted.Detach();  // a header of its own: every use is a separate node of the graph
  const DType from = x.dtype();
  RecordOp(out, "cast", {x}, [from](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g.To(from)};
  });
  return out;
}

std::vector<Tensor> ConvertedCopies(const std::vector<Tensor>& xs, DType dtype) {
  std::vector<Tensor> out;
  out.reserve(xs.size());
#if VFM_WITH_CUDA
  std::vector<const float*> src;
  std::vector<bf16*> dst;
  std::vector<int64_t> n;
  for (const Tensor& x : xs) {
    if (x.device().is_cpu() || x.dtype() != DType::kF32 || dtype != DType::kBF16 || !x.is_contiguous()) {
      out.push_back(x.To(dtype));
      continue;
    }
    out.push_back(Tensor::Empty(x.shape(), dtype, x.device()));
    src.push_back(x.data<float>());
    dst.push_back(out.back().data<bf16>());
    n.push_back(x.numel());
  }
  if (!src.empty()) cuda::ConvertMany(src.data(), dst.data(), n.data(), int(src.size()));
#else
  for (const Tensor& x : xs) out.push_back(x.To(dtype));
#endif
  return out;
}

}  // namespace vfm::ops

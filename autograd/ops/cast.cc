#include "autograd/ops/common.h"

namespace vfm::ops {

// Mixed precision enters the graph here: an f32 parameter cast to bf16 for a GPU forward gets its
// gradient back in f32, and the engine accumulates it there (fp32 gradient accumulation).
Tensor Cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = x.To(dtype);
  const DType from = x.dtype();
  RecordOp(out, "cast", {x}, [from](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g.To(from)};
  });
  return out;
}

}  // namespace vfm::ops

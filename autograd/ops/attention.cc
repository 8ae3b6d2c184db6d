#include "autograd/ops/common.h"
#include "kernels/cpu/attention.h"

namespace vfm::ops {
using namespace internal;

Tensor Attention(const Tensor& qkv, int64_t num_heads, double scale) {
  CheckCpu("attention", qkv);
  VFM_CHECK(qkv.dim() == 3 && num_heads > 0 && qkv.size(2) % (3 * num_heads) == 0)
      << "attention: qkv must be [B, N, 3*H*Dh], got " << ShapeToString(qkv.shape()) << " with " << num_heads
      << " heads";
  const cpu::AttentionShape shape{qkv.size(0), qkv.size(1), num_heads, qkv.size(2) / (3 * num_heads)};
  const int64_t C = num_heads * shape.head_dim;
  const Tensor qc = qkv.is_contiguous() ? qkv.Detach() : qkv.Clone();
  Tensor out = Tensor::Empty({shape.batch, shape.tokens, C}, qkv.dtype());
  Tensor lse = Tensor::Empty({shape.batch, num_heads, shape.tokens}, qkv.dtype());
  DispatchFloat(qkv.dtype(), "attention", [&](auto tag) {
    using T = decltype(tag);
    cpu::AttentionForward<T>(qc.data<T>(), out.data<T>(), lse.data<T>(), shape, T(scale));
  });
  RecordOp(out, "attention", {qkv}, [qc, o = out.Detach(), lse, shape, scale](const Tensor& g, const std::vector<bool>&) {
    const Tensor gc = g.is_contiguous() ? g : g.Clone();
    Tensor dqkv = Tensor::Empty(qc.shape(), qc.dtype());
    DispatchFloat(qc.dtype(), "attention", [&](auto tag) {
      using T = decltype(tag);
      cpu::AttentionBackward<T>(qc.data<T>(), o.data<T>(), gc.data<T>(), lse.data<T>(), dqkv.data<T>(), shape,
                                T(scale));
    });
    return std::vector<Tensor>{dqkv};
  });
  return out;
}

}  // namespace vfm::ops

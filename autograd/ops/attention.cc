#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "autograd/ops/common.h"
#include "kernels/cpu/attention.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/fused_attention.h"

namespace vfm::ops {
using namespace internal;

namespace {
// On the GPU, bf16 attention runs in the fused kernels (kernels/cuda/fused_attention.cu) when they
// support the head dim and the tensors are 16-byte aligned; f32 and other shapes take the unfused path
// (cuBLASLt per head). Both keep the same fp32 natural-log lse, so forward and backward choose apart.
bool UseFused(int64_t head_dim, std::initializer_list<const Tensor*> tensors) {
  if (!cuda::FusedAttentionSupported(head_dim)) return false;
  for (const Tensor* t : tensors)
    if (reinterpret_cast<uintptr_t>(t->raw_data()) % 16 != 0) return false;
  return true;
}
}  // namespace

Tensor Attention(const Tensor& qkv, int64_t num_heads, double scale) {
  VFM_CHECK(qkv.dim() == 3 && num_heads > 0 && qkv.size(2) % (3 * num_heads) == 0)
      << "attention: qkv must be [B, N, 3*H*Dh], got " << ShapeToString(qkv.shape()) << " with " << num_heads
      << " heads";
  const cpu::AttentionShape shape{qkv.size(0), qkv.size(1), num_heads, qkv.size(2) / (3 * num_heads)};
  const int64_t C = num_heads * shape.head_dim;
  const Tensor qc = qkv.Contiguous();
  const Device device = qkv.device();
  Tensor out = Tensor::Empty({shape.batch, shape.tokens, C}, qkv.dtype(), device);
  // The logsumexp per row: the input's dtype on the CPU, always fp32 on the GPU (see kernels/cuda/attention.h).
  Tensor lse = Tensor::Empty({shape.batch, num_heads, shape.tokens}, device.is_cpu() ? qkv.dtype() : DType::kF32,
                             device);
  DispatchDevice(
      "attention", qkv,
      [&](auto tag) {
        using T = decltype(tag);
        cpu::AttentionForward<T>(qc.data<T>(), out.data<T>(), lse.data<T>(), shape, T(scale));
      },
      [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bf16>) {
          if (UseFused(shape.head_dim, {&qc, &out})) {
            cuda::FusedAttentionForward(qc.data<bf16>(), out.data<bf16>(), lse.data<float>(), shape.batch,
                                        shape.tokens, shape.heads, shape.head_dim, float(scale));
            return;
          }
        }
        const Tensor scratch = Scratch(cuda::AttentionForwardScratchBytes<T>(shape), device);
        cuda::AttentionForward<T>(qc.data<T>(), out.data<T>(), lse.data<float>(), shape, float(scale),
                                  scratch.raw_data());
      });
  RecordOp(out, "attention", {qkv}, [qc, o = out.Detach(), lse, shape, scale](const Tensor& g, const std::vector<bool>&) {
    const Tensor gc = g.Contiguous();
    Tensor dqkv = Tensor::Empty(qc.shape(), qc.dtype(), qc.device());
    DispatchDevice(
        "attention", qc,
        [&](auto tag) {
          using T = decltype(tag);
          cpu::AttentionBackward<T>(qc.data<T>(), o.data<T>(), gc.data<T>(), lse.data<T>(), dqkv.data<T>(), shape,
                                    T(scale));
        },
        [&](auto tag) {
          using T = decltype(tag);
          CheckSameDevice("attention", qc, gc);
          CheckSameDType("attention", qc, gc);
          if constexpr (std::is_same_v<T, bf16>) {
            if (UseFused(shape.head_dim, {&qc, &o, &gc, &dqkv})) {
              const Tensor scratch =
                  Scratch(cuda::FusedAttentionBackwardScratchBytes(shape.batch, shape.tokens, shape.heads), qc.device());
              cuda::FusedAttentionBackward(qc.data<bf16>(), o.data<bf16>(), gc.data<bf16>(), lse.data<float>(),
                                           dqkv.data<bf16>(), shape.batch, shape.tokens, shape.heads, shape.head_dim,
                                           float(scale), scratch.raw_data());
              return;
            }
          }
          const Tensor scratch = Scratch(cuda::AttentionBackwardScratchBytes<T>(shape), qc.device());
          cuda::AttentionBackward<T>(qc.data<T>(), o.data<T>(), gc.data<T>(), lse.data<float>(), dqkv.data<T>(), shape,
                                     float(scale), scratch.raw_data());
        });
    return std::vector<Tensor>{dqkv};
  });
  return out;
}

}  // namespace vfm::ops

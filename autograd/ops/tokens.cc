// Concatenation and per-sample token gathers (building and picking token sequences).
#include <cstring>

#include "autograd/ops/common.h"
#include "kernels/cpu/tokens.h"
#include "kernels/cuda/tokens.h"

namespace vfm::ops {
using namespace internal;

Tensor Concat(const std::vector<Tensor>& xs, int64_t dim) {
  VFM_CHECK(!xs.empty()) << "concat of no tensors";
  dim = WrapDim(dim, xs[0].dim());
  Shape shape = xs[0].shape();
  shape[dim] = 0;
  for (const Tensor& x : xs) {
    CheckSameDType("concat", xs[0], x);
    CheckSameDevice("concat", xs[0], x);
    VFM_CHECK(x.dim() == xs[0].dim()) << "concat: ranks differ";
    for (int64_t d = 0; d < x.dim(); ++d)
      VFM_CHECK(d == dim || x.shape()[d] == xs[0].shape()[d])
          << "concat along " << dim << ": " << ShapeToString(xs[0].shape()) << " and " << ShapeToString(x.shape());
  }
  for (const Tensor& x : xs) shape[dim] += x.shape()[dim];
  Tensor out = Tensor::Empty(shape, xs[0].dtype(), xs[0].device());
  std::vector<int64_t> starts;
  int64_t at = 0;
  for (const Tensor& x : xs) {
    starts.push_back(at);
    out.View(x.shape(), out.strides(), at * out.strides()[dim]).CopyFrom(x);
    at += x.shape()[dim];
  }
  RecordOp(out, "concat", xs, [starts, dim](const Tensor& g, const std::vector<bool>& needs) {
    std::vector<Tensor> grads(needs.size());
    for (size_t i = 0; i < needs.size(); ++i) {
      if (!needs[i]) continue;
      const int64_t end = i + 1 < starts.size() ? starts[i + 1] : g.shape()[dim];
      grads[i] = Slice(g, dim, starts[i], end).Clone();
    }
    return grads;
  });
  return out;
}

namespace {
// The index on x's device. A host index is checked (and uploaded for a GPU x); one already on a GPU is
// not checked (reading it back would wait for the GPU; the kernel turns out-of-range rows
// into zeros instead of reading outside x).
Tensor IndexOnDevice(const Tensor& index, const Tensor& x, int64_t N) {
  if (!index.device().is_cpu()) {
    CheckSameDevice("gather_tokens", x, index);
    return index.Contiguous();
  }
  const Tensor host = index.Contiguous();
  const int64_t* pi = host.data<int64_t>();
  for (int64_t i = 0; i < host.numel(); ++i)
    VFM_CHECK(pi[i] >= 0 && pi[i] < N) << "gather_tokens: index " << pi[i] << " out of range [0, " << N << ")";
  return x.device().is_cpu() ? host : host.ToDevice(x.device());
}
}  // namespace

Tensor GatherTokens(const Tensor& x, const Tensor& index) {
  VFM_CHECK(x.dim() == 3 && index.dim() == 2 && index.dtype() == DType::kI64 && index.size(0) == x.size(0))
      << "gather_tokens: x " << ShapeToString(x.shape()) << " must be [B, N, D], index " << ShapeToString(index.shape())
      << " [B, M] i64";
  if (x.device().is_cpu()) CheckCpu("gather_tokens", index);
  const int64_t B = x.size(0), N = x.size(1), D = x.size(2), M = index.size(1);
  const Tensor idx = IndexOnDevice(index, x, N);
  const Tensor xc = x.Contiguous();
  Tensor out = Tensor::Empty({B, M, D}, x.dtype(), x.device());
  DispatchDevice(
      "gather_tokens", x,
      [&](auto tag) {
        using T = decltype(tag);
        cpu::GatherTokensForward<T>(xc.data<T>(), idx.data<int64_t>(), out.data<T>(), B, N, M, D);
      },
      [&](auto tag) {
        using T = decltype(tag);
        cuda::GatherTokensForward<T>(xc.data<T>(), idx.data<int64_t>(), out.data<T>(), B, N, M, D);
      });
  RecordOp(out, "gather_tokens", {x}, [idx, B, N, M, D](const Tensor& g, const std::vector<bool>&) {
    const Tensor gc = g.Contiguous();
    Tensor dx = Tensor::Zeros({B, N, D}, g.dtype(), g.device());
    DispatchDevice(
        "gather_tokens", g,
        [&](auto tag) {
          using T = decltype(tag);
          cpu::GatherTokensBackward<T>(gc.data<T>(), idx.data<int64_t>(), dx.data<T>(), B, N, M, D);
        },
        [&](auto tag) {
          using T = decltype(tag);
          cuda::GatherTokensBackward<T>(gc.data<T>(), idx.data<int64_t>(), dx.data<T>(), B, N, M, D);
        });
    return std::vector<Tensor>{dx};
  });
  return out;
}

}  // namespace vfm::ops

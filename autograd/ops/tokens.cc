// Concatenation and per-sample token gathers (building and picking token sequences).
#include <cstring>

#include "autograd/ops/common.h"
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
// GatherTokens on a GPU (kernels/cuda/tokens.h). The index may be on the host (it is checked there,
// like on the CPU path, then uploaded) or already on x's device (not checked: reading it back would
// wait for the GPU; the kernel turns out-of-range rows into zeros instead of reading outside x).
Tensor GatherTokensOnDevice(const Tensor& x, const Tensor& index) {
  const int64_t B = x.size(0), N = x.size(1), D = x.size(2), M = index.size(1);
  Tensor idx;
  if (index.device().is_cpu()) {
    const Tensor host = index.is_contiguous() ? index : index.Clone();
    const int64_t* pi = host.data<int64_t>();
    for (int64_t i = 0; i < B * M; ++i)
      VFM_CHECK(pi[i] >= 0 && pi[i] < N) << "gather_tokens: index " << pi[i] << " out of range [0, " << N << ")";
    idx = host.ToDevice(x.device());
  } else {
    CheckSameDevice("gather_tokens", x, index);
    idx = index.is_contiguous() ? index : index.Clone();
  }
  return DispatchDevice(
      "gather_tokens", x,
      [](auto) -> Tensor {
        VFM_CHECK(false) << "gather_tokens: host tensor on the GPU path";
        return {};
      },
      [&](auto tag) {
        using T = decltype(tag);
        const Tensor xc = x.is_contiguous() ? x : x.Clone();
        Tensor out = Tensor::Empty({B, M, D}, x.dtype(), x.device());
        cuda::GatherTokensForward<T>(xc.data<T>(), idx.data<int64_t>(), out.data<T>(), B, N, M, D);
        RecordOp(out, "gather_tokens", {x}, [idx, B, N, M, D](const Tensor& g, const std::vector<bool>&) {
          const Tensor gc = g.is_contiguous() ? g : g.Clone();
          Tensor dx = Tensor::Zeros({B, N, D}, g.dtype(), g.device());
          cuda::GatherTokensBackward<T>(gc.data<T>(), idx.data<int64_t>(), dx.data<T>(), B, N, M, D);
          return std::vector<Tensor>{dx};
        });
        return out;
      });
}
}  // namespace

Tensor GatherTokens(const Tensor& x, const Tensor& index) {
  VFM_CHECK(x.dim() == 3 && index.dim() == 2 && index.dtype() == DType::kI64 && index.size(0) == x.size(0))
      << "gather_tokens: x " << ShapeToString(x.shape()) << " must be [B, N, D], index " << ShapeToString(index.shape())
      << " [B, M] i64";
  if (!x.device().is_cpu()) return GatherTokensOnDevice(x, index);
  CheckCpu("gather_tokens", index);
  const int64_t B = x.size(0), N = x.size(1), D = x.size(2), M = index.size(1);
  const Tensor xc = x.is_contiguous() ? x : x.Clone();
  const Tensor idx = index.is_contiguous() ? index : index.Clone();
  const int64_t* pi = idx.data<int64_t>();
  for (int64_t i = 0; i < B * M; ++i)
    VFM_CHECK(pi[i] >= 0 && pi[i] < N) << "gather_tokens: index " << pi[i] << " out of range [0, " << N << ")";
  Tensor out = Tensor::Empty({B, M, D}, x.dtype());
  const size_t row_bytes = size_t(D) * ElementSize(x.dtype());
  const char* src = static_cast<const char*>(xc.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t m = 0; m < M; ++m)
      std::memcpy(dst + (b * M + m) * row_bytes, src + (b * N + pi[b * M + m]) * row_bytes, row_bytes);
  RecordOp(out, "gather_tokens", {x}, [idx, B, N, M, D](const Tensor& g, const std::vector<bool>&) {
    const Tensor gc = g.is_contiguous() ? g : g.Clone();
    Tensor dx = Tensor::Zeros({B, N, D}, g.dtype());
    DispatchFloat(g.dtype(), "gather_tokens", [&](auto tag) {
      using T = decltype(tag);
      const int64_t* pi = idx.data<int64_t>();
      const T* pg = gc.data<T>();
      T* pd = dx.data<T>();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t m = 0; m < M; ++m) {
          T* row = pd + (b * N + pi[b * M + m]) * D;
          for (int64_t d = 0; d < D; ++d) row[d] += pg[(b * M + m) * D + d];
        }
    });
    return std::vector<Tensor>{dx};
  });
  return out;
}

}  // namespace vfm::ops

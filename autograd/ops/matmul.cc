#include <algorithm>

#include "autograd/ops/common.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cuda/matmul.h"

namespace vfm::ops {
using namespace internal;

namespace {

// y = x W^T + b, the product reading W and b from w_values and b_values (x's dtype). The graph records
// the parameters w and b, whose gradients are made in their own dtype: the values' dtype, or f32 for
// f32 masters of bf16 values on a GPU (written straight from the GEMM's and the column sum's fp32
// accumulators; elsewhere converted after).
Tensor LinearOf(const Tensor& x, const Tensor& w, const Tensor& w_values, const Tensor& b, const Tensor& b_values) {
  CheckSameDType("linear", x, w_values);
  CheckSameDevice("linear", x, w_values);
  if (b.defined()) {
    CheckSameDType("linear", x, b_values);
    CheckSameDevice("linear", x, b_values);
  }
  VFM_CHECK(w_values.dim() == 2 && x.dim() >= 1 && x.size(-1) == w_values.size(1))
      << "linear: input " << ShapeToString(x.shape()) << " with weight " << ShapeToString(w_values.shape());
  VFM_CHECK(!b.defined() || (b_values.dim() == 1 && b_values.size(0) == w_values.size(0)))
      << "linear: bias " << ShapeToString(b_values.shape()) << " for weight " << ShapeToString(w_values.shape());
  const int64_t in = w_values.size(1), outf = w_values.size(0), rows = x.numel() / in;
  const Tensor xc = x.Contiguous();
  const Tensor wc = w_values.Contiguous();
  Shape out_shape = x.shape();
  out_shape.back() = outf;
  Tensor out = Tensor::Empty(out_shape, x.dtype(), x.device());
  DispatchDevice(
      "linear", x,
      [&](auto tag) {
        using T = decltype(tag);
        T* y = out.data<T>();
        if (b.defined()) {  // start from the bias, then y += x W^T
          const Tensor bc = b_values.Contiguous();
          const T* pb = bc.data<T>();
#pragma omp parallel for schedule(static) if (rows * outf > 65536)
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t o = 0; o < outf; ++o) y[r * outf + o] = pb[o];
        }
        cpu::Gemm<T>(false, true, rows, outf, in, T(1), xc.data<T>(), in, wc.data<T>(), in, T(b.defined() ? 1 : 0),
                     y, outf);
      },
      [&](auto tag) {
        using T = decltype(tag);
        if (b.defined()) {  // the bias in cuBLASLt's epilogue
          const Tensor bc = b_values.Contiguous();
          cuda::GemmBias<T>(false, true, rows, outf, in, xc.data<T>(), in, wc.data<T>(), in, bc.data<T>(),
                            out.data<T>(), outf);
        } else {
          cuda::Gemm<T>(false, true, rows, outf, in, 1.f, xc.data<T>(), in, wc.data<T>(), in, 0.f, out.data<T>(),
                        outf);
        }
      });
  std::vector<Tensor> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  const DType w_dtype = w.dtype(), b_dtype = b.defined() ? b.dtype() : w.dtype();
  RecordOp(out, "linear", inputs,
           [xc, wc, rows, in, outf, w_dtype, b_dtype](const Tensor& g, const std::vector<bool>& needs) {
    const Tensor gc = g.Contiguous();
    std::vector<Tensor> grads(needs.size());
    DispatchDevice(
        "linear", gc,
        [&](auto tag) {
          using T = decltype(tag);
          if (needs[0]) {  // dx = g W
            grads[0] = Tensor::Empty(xc.shape(), g.dtype());
            cpu::Gemm<T>(false, false, rows, in, outf, T(1), gc.data<T>(), outf, wc.data<T>(), in, T(0),
                         grads[0].template data<T>(), in);
          }
          if (needs[1]) {  // dW = g^T x
            grads[1] = Tensor::Empty(wc.shape(), g.dtype());
            cpu::Gemm<T>(true, false, outf, in, rows, T(1), gc.data<T>(), outf, xc.data<T>(), in, T(0),
                         grads[1].template data<T>(), in);
            if (w_dtype != g.dtype()) grads[1] = grads[1].To(w_dtype);
          }
          if (needs.size() > 2 && needs[2]) {  // db = column sums of g
            grads[2] = Tensor::Empty({outf}, g.dtype());
            cpu::SumMiddleAxis<T>(gc.data<T>(), grads[2].template data<T>(), 1, rows, outf);
            if (b_dtype != g.dtype()) grads[2] = grads[2].To(b_dtype);
          }
        },
        [&](auto tag) {
          using T = decltype(tag);
          const Device device = gc.device();
          if (needs[0]) {  // dx = g W
            grads[0] = Tensor::Empty(xc.shape(), g.dtype(), device);
            cuda::Gemm<T>(false, false, rows, in, outf, 1.f, gc.data<T>(), outf, wc.data<T>(), in, 0.f,
                          grads[0].template data<T>(), in);
          }
          // dW = g^T x and db = column sums of g, in the parameters' dtype: f32 masters of bf16 values get
          // the fp32 accumulators' values.
          const auto product = [&](auto* dw) {
            cuda::Gemm(true, false, outf, in, rows, 1.f, gc.data<T>(), outf, xc.data<T>(), in, 0.f, dw, in);
          };
          if (needs[1]) {
            grads[1] = Tensor::Empty(wc.shape(), w_dtype, device);
            if (w_dtype == DType::kF32) product(grads[1].template data<float>());
            else product(grads[1].template data<T>());
          }
          if (needs.size() > 2 && needs[2]) {
            grads[2] = Tensor::Empty({outf}, b_dtype, device);
            const Tensor scratch = Scratch(cuda::ColumnSumScratchBytes(rows, outf), device);
            if (b_dtype == DType::kF32)
              cuda::ColumnSum(gc.data<T>(), grads[2].template data<float>(), rows, outf, scratch.raw_data());
            else
              cuda::ColumnSum(gc.data<T>(), grads[2].template data<T>(), rows, outf, scratch.raw_data());
          }
        });
    return grads;
  });
  return out;
}

}  // namespace

Tensor Linear(const Tensor& x, const Tensor& w, const Tensor& b) { return LinearOf(x, w, w, b, b); }

Tensor LinearMixed(const Tensor& x, const Tensor& w, const Tensor& w_values, const Tensor& b,
                   const Tensor& b_values) {
  VFM_CHECK(w.shape() == w_values.shape() && w.device() == w_values.device() && b.defined() == b_values.defined() &&
            (!b.defined() || (b.shape() == b_values.shape() && b.device() == b_values.device())))
      << "linear: parameters " << ShapeToString(w.shape()) << (b.defined() ? " with a bias" : "") << " and values "
      << ShapeToString(w_values.shape()) << (b_values.defined() ? " with a bias" : "");
  return LinearOf(x, w, w_values, b, b_values);
}

Tensor Matmul(const Tensor& a, const Tensor& b) {
  CheckSameDType("matmul", a, b);
  CheckSameDevice("matmul", a, b);
  VFM_CHECK(a.dim() >= 2 && b.dim() >= 2 && a.size(-1) == b.size(-2))
      << "matmul: " << ShapeToString(a.shape()) << " @ " << ShapeToString(b.shape());
  const bool shared_b = b.dim() == 2;
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  const int64_t batch = a.numel() / (M * K);
  VFM_CHECK(shared_b || (a.dim() == b.dim() && b.numel() / (K * N) == batch &&
                         std::equal(a.shape().begin(), a.shape().end() - 2, b.shape().begin())))
      << "matmul: batch dimensions differ: " << ShapeToString(a.shape()) << " @ " << ShapeToString(b.shape());
  const Tensor ac = a.Contiguous(), bc = b.Contiguous();
  Shape out_shape = a.shape();
  out_shape.back() = N;
  Tensor out = Tensor::Empty(out_shape, a.dtype(), a.device());
  DispatchDevice(
      "matmul", a,
      [&](auto tag) {
        using T = decltype(tag);
        if (shared_b) {  // one GEMM over all batch rows
          cpu::Gemm<T>(false, false, batch * M, N, K, T(1), ac.data<T>(), K, bc.data<T>(), N, T(0), out.data<T>(), N);
          return;
        }
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < batch; ++i)
          cpu::Gemm<T>(false, false, M, N, K, T(1), ac.data<T>() + i * M * K, K, bc.data<T>() + i * K * N, N, T(0),
                       out.data<T>() + i * M * N, N);
      },
      [&](auto tag) {
        using T = decltype(tag);
        if (shared_b)
          cuda::Gemm<T>(false, false, batch * M, N, K, 1.f, ac.data<T>(), K, bc.data<T>(), N, 0.f, out.data<T>(), N);
        else
          cuda::GemmStridedBatched<T>(false, false, M, N, K, 1.f, ac.data<T>(), K, M * K, bc.data<T>(), N, K * N, 0.f,
                                      out.data<T>(), N, M * N, batch);
      });
  RecordOp(out, "matmul", {a, b}, [=](const Tensor& g, const std::vector<bool>& needs) {
    const Tensor gc = g.Contiguous();
    std::vector<Tensor> grads(2);
    DispatchDevice(
        "matmul", gc,
        [&](auto tag) {
          using T = decltype(tag);
          if (needs[0]) {  // da = g b^T
            grads[0] = Tensor::Empty(ac.shape(), g.dtype());
            T* da = grads[0].template data<T>();
            if (shared_b) {
              cpu::Gemm<T>(false, true, batch * M, K, N, T(1), gc.data<T>(), N, bc.data<T>(), N, T(0), da, K);
            } else {
#pragma omp parallel for schedule(static)
              for (int64_t i = 0; i < batch; ++i)
                cpu::Gemm<T>(false, true, M, K, N, T(1), gc.data<T>() + i * M * N, N, bc.data<T>() + i * K * N, N,
                             T(0), da + i * M * K, K);
            }
          }
          if (needs[1]) {  // db = a^T g (summed over the batch when b is shared)
            grads[1] = Tensor::Empty(bc.shape(), g.dtype());
            T* db = grads[1].template data<T>();
            if (shared_b) {
              cpu::Gemm<T>(true, false, K, N, batch * M, T(1), ac.data<T>(), K, gc.data<T>(), N, T(0), db, N);
            } else {
#pragma omp parallel for schedule(static)
              for (int64_t i = 0; i < batch; ++i)
                cpu::Gemm<T>(true, false, K, N, M, T(1), ac.data<T>() + i * M * K, K, gc.data<T>() + i * M * N, N,
                             T(0), db + i * K * N, N);
            }
          }
        },
        [&](auto tag) {
          using T = decltype(tag);
          const Device device = gc.device();
          if (needs[0]) {  // da = g b^T
            grads[0] = Tensor::Empty(ac.shape(), g.dtype(), device);
            T* da = grads[0].template data<T>();
            if (shared_b)
              cuda::Gemm<T>(false, true, batch * M, K, N, 1.f, gc.data<T>(), N, bc.data<T>(), N, 0.f, da, K);
            else
              cuda::GemmStridedBatched<T>(false, true, M, K, N, 1.f, gc.data<T>(), N, M * N, bc.data<T>(), N, K * N,
                                          0.f, da, K, M * K, batch);
          }
          if (needs[1]) {  // db = a^T g (summed over the batch when b is shared)
            grads[1] = Tensor::Empty(bc.shape(), g.dtype(), device);
            T* db = grads[1].template data<T>();
            if (shared_b)
              cuda::Gemm<T>(true, false, K, N, batch * M, 1.f, ac.data<T>(), K, gc.data<T>(), N, 0.f, db, N);
            else
              cuda::GemmStridedBatched<T>(true, false, K, N, M, 1.f, ac.data<T>(), K, M * K, gc.data<T>(), N, M * N,
                                          0.f, db, N, K * N, batch);
          }
        });
    return grads;
  });
  return out;
}

}  // namespace vfm::ops

// GEMMs through cuBLASLt (kernels/cuda/matmul.h) and the ops built on them (Linear, Matmul) against the
// CPU: kernel level (every transpose combination, padded leading dimensions, alpha/beta, strided
// batches, the bias epilogue, column sums) and op level (forward and every gradient), f32 and bf16, at
// ViT-B's shapes (M = 64*197 rows, K = 768, N = 2304/768/3072) and odd ones (37 x 100 x 3).
// Tolerances: f32 runs true fp32 (no TF32) and differs from the CPU only by summation order: the rounding
// drift of a K-term fp32 sum of N(0,1) products grows like 2^-24 * K while the result is ~sqrt(K), so the
// relative difference is ~2^-24 * sqrt(K) / 3 (5e-7 at K = 768, 2e-6 at the K = 12608 rows of a weight
// gradient), and the worst of millions of elements is about five times that: 1e-5 + 1e-6 sqrt(K). bf16 runs on the very
// bf16-rounded inputs the CPU reference gets, accumulating in fp32, so the difference is the final rounding
// of C to bf16 (half a unit) plus that order noise: 2 units. bf16 inputs with an fp32 C: as f32.
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cuda/matmul.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::GradsOf;
using testing::OnGpu;
using testing::MisalignedOnGpu;
using testing::OnHost;
using testing::Seen;
using testing::GpuTest;
using testing::kBf16Unit;
using testing::RoundedToBf16;

constexpr double kBf16Tol = 2 * kBf16Unit;
// For a product summing k terms into a C of type c_type (see the top comment).
double TolFor(DType c_type, int64_t k) {
  return c_type == DType::kBF16 ? kBf16Tol : 1e-5 + 1e-6 * std::sqrt(double(k));
}

struct GemmCase {
  bool ta, tb;
  int64_t m, n, k, pad;
  float alpha, beta;
  std::string Name() const {
    return "ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " m=" + std::to_string(m) +
           " n=" + std::to_string(n) + " k=" + std::to_string(k) + " pad=" + std::to_string(pad);
  }
};

// C = alpha op(A) op(B) + beta C on row-major [rows, cols + pad] buffers; the padding of C must come back
// untouched. `blas`: reference by OpenBLAS (big shapes) rather than the double-precision triple loop.
template <typename T, typename TC>
void CheckGemm(const GemmCase& c, bool blas, uint64_t seed) {
  SCOPED_TRACE(c.Name() + " " + DTypeName(DTypeOf<T>()) + "->" + DTypeName(DTypeOf<TC>()));
  const DType dt = DTypeOf<T>(), ct = DTypeOf<TC>();
  const int64_t a_rows = c.ta ? c.k : c.m, a_cols = c.ta ? c.m : c.k;
  const int64_t b_rows = c.tb ? c.n : c.k, b_cols = c.tb ? c.k : c.n;
  const int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.n + c.pad;
  const Tensor a = Seen(Tensor::Randn({a_rows, lda}, seed), dt);
  const Tensor b = Seen(Tensor::Randn({b_rows, ldb}, seed + 1), dt);
  const Tensor c0 = Seen(Tensor::Randn({c.m, ldc}, seed + 2), ct);
  Tensor want = c0.Clone();
  if (blas)
    cpu::Gemm<float>(c.ta, c.tb, c.m, c.n, c.k, c.alpha, a.data<float>(), lda, b.data<float>(), ldb, c.beta,
                     want.data<float>(), ldc);
  else
    cpu::GemmReference<float>(c.ta, c.tb, c.m, c.n, c.k, c.alpha, a.data<float>(), lda, b.data<float>(), ldb, c.beta,
                              want.data<float>(), ldc);
  const Tensor ga = OnGpu(a, dt), gb = OnGpu(b, dt);
  Tensor gc = OnGpu(c0, ct);
  cuda::Gemm<T, TC>(c.ta, c.tb, c.m, c.n, c.k, c.alpha, ga.data<T>(), lda, gb.data<T>(), ldb, c.beta, gc.data<TC>(),
                    ldc);
  EXPECT_GPU_CLOSE(OnHost(gc), want, TolFor(ct, c.k));
}

template <typename T, typename TC>
void CheckOddShapes() {
  uint64_t seed = 100;
  for (const auto& [m, n, k] : std::vector<std::array<int64_t, 3>>{{37, 100, 3}, {197, 37, 100}, {1, 5, 7}, {3, 1, 1}})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (int64_t pad : {0, 3}) {
          CheckGemm<T, TC>({ta, tb, m, n, k, pad, 1.f, 0.f}, false, seed += 3);
          CheckGemm<T, TC>({ta, tb, m, n, k, pad, 0.5f, 0.25f}, false, seed += 3);
        }
}

TEST_F(GpuTest, GemmOddShapesF32) { CheckOddShapes<float, float>(); }
TEST_F(GpuTest, GemmOddShapesBf16) { CheckOddShapes<bf16, bf16>(); }
TEST_F(GpuTest, GemmOddShapesBf16IntoF32) { CheckOddShapes<bf16, float>(); }

// ViT-B at batch 64: the qkv, proj and fc1 products of Linear's forward (x W^T) and the weight gradient
// (g^T x, K = M*N rows) of the widest one.
template <typename T, typename TC>
void CheckVitShapes() {
  const int64_t M = 64 * 197, K = 768;
  for (int64_t N : {2304, 768, 3072}) CheckGemm<T, TC>({false, true, M, N, K, 0, 1.f, 0.f}, true, 7 + N);
  CheckGemm<T, TC>({true, false, 3072, 768, M, 0, 1.f, 0.f}, true, 9);
}

TEST_F(GpuTest, GemmVitShapesF32) { CheckVitShapes<float, float>(); }
TEST_F(GpuTest, GemmVitShapesBf16) { CheckVitShapes<bf16, bf16>(); }
TEST_F(GpuTest, GemmVitShapesBf16IntoF32) { CheckVitShapes<bf16, float>(); }

TEST_F(GpuTest, GemmBetaZeroDoesNotReadC) {
  const Tensor a = Tensor::Randn({37, 3}, 1), b = Tensor::Randn({3, 100}, 2);
  Tensor want = Tensor::Zeros({37, 100});
  cpu::GemmReference<float>(false, false, 37, 100, 3, 1.f, a.data<float>(), 3, b.data<float>(), 100, 0.f,
                            want.data<float>(), 100);
  Tensor c = Tensor::Full({37, 100}, NAN, DType::kF32, Gpu());
  const Tensor ga = OnGpu(a, DType::kF32), gb = OnGpu(b, DType::kF32);
  cuda::Gemm<float>(false, false, 37, 100, 3, 1.f, ga.data<float>(), 3, gb.data<float>(), 100, 0.f, c.data<float>(),
                    100);
  EXPECT_GPU_CLOSE(OnHost(c), want, TolFor(DType::kF32, 3));
}

// `batch` products with padded batch strides (operand i at i * stride), against the loop on the CPU.
template <typename T, typename TC>
void CheckBatched(bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t batch, float alpha, float beta) {
  const GemmCase shape{ta, tb, m, n, k, 0, alpha, beta};
  SCOPED_TRACE(shape.Name() + " batch=" + std::to_string(batch));
  const DType dt = DTypeOf<T>(), ct = DTypeOf<TC>();
  const int64_t lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
  const int64_t sa = (ta ? k : m) * lda + 8, sb = (tb ? n : k) * ldb + 8, sc = m * ldc + 8;
  const Tensor a = Seen(Tensor::Randn({batch * sa}, 21), dt), b = Seen(Tensor::Randn({batch * sb}, 22), dt);
  const Tensor c0 = Seen(Tensor::Randn({batch * sc}, 23), ct);
  Tensor want = c0.Clone();
  for (int64_t i = 0; i < batch; ++i)
    cpu::GemmReference<float>(ta, tb, m, n, k, alpha, a.data<float>() + i * sa, lda, b.data<float>() + i * sb, ldb,
                              beta, want.data<float>() + i * sc, ldc);
  const Tensor ga = OnGpu(a, dt), gb = OnGpu(b, dt);
  Tensor gc = OnGpu(c0, ct);
  cuda::GemmStridedBatched<T, TC>(ta, tb, m, n, k, alpha, ga.data<T>(), lda, sa, gb.data<T>(), ldb, sb, beta,
                                  gc.data<TC>(), ldc, sc, batch);
  EXPECT_GPU_CLOSE(OnHost(gc), want, TolFor(ct, k));
}

template <typename T, typename TC>
void CheckBatchedShapes() {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CheckBatched<T, TC>(ta, tb, 37, 100, 3, 5, 1.f, 0.f);
      CheckBatched<T, TC>(ta, tb, 197, 64, 197, 3, 0.125f, 0.f);
      CheckBatched<T, TC>(ta, tb, 5, 7, 9, 4, 0.5f, 0.25f);
    }
}

TEST_F(GpuTest, GemmStridedBatchedF32) { CheckBatchedShapes<float, float>(); }
TEST_F(GpuTest, GemmStridedBatchedBf16) { CheckBatchedShapes<bf16, bf16>(); }
TEST_F(GpuTest, GemmStridedBatchedBf16IntoF32) { CheckBatchedShapes<bf16, float>(); }

// y = x W^T + b with the bias in the epilogue.
template <typename T>
void CheckBias(int64_t rows, int64_t outf, int64_t in) {
  SCOPED_TRACE("rows=" + std::to_string(rows) + " out=" + std::to_string(outf) + " in=" + std::to_string(in));
  const DType dt = DTypeOf<T>();
  const Tensor x = Seen(Tensor::Randn({rows, in}, 31), dt), w = Seen(Tensor::Randn({outf, in}, 32), dt);
  const Tensor b = Seen(Tensor::Randn({outf}, 33), dt);
  Tensor want = Tensor::Empty({rows, outf});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < outf; ++o) want.data<float>()[r * outf + o] = b.data<float>()[o];
  cpu::Gemm<float>(false, true, rows, outf, in, 1.f, x.data<float>(), in, w.data<float>(), in, 1.f,
                   want.data<float>(), outf);
  const Tensor gx = OnGpu(x, dt), gw = OnGpu(w, dt), gb = OnGpu(b, dt);
  Tensor y = Tensor::Empty({rows, outf}, dt, Device::CUDA(0));
  cuda::GemmBias<T>(false, true, rows, outf, in, gx.data<T>(), in, gw.data<T>(), in, gb.data<T>(), y.data<T>(), outf);
  EXPECT_GPU_CLOSE(OnHost(y), want, TolFor(dt, in));
}

TEST_F(GpuTest, GemmBiasEpilogue) {
  for (const auto& [rows, outf, in] :
       std::vector<std::array<int64_t, 3>>{{37, 100, 3}, {1, 37, 5}, {4 * 197, 2304, 768}, {64 * 197, 768, 768}}) {
    CheckBias<float>(rows, outf, in);
    CheckBias<bf16>(rows, outf, in);
  }
}

// Column sums (the bias gradient) against double sums of the same rounded inputs. Row lengths that are
// multiples of 8 take the packed kernel (16-byte loads), unless g starts `offset` elements into its
// buffer (not 16-byte aligned).
template <typename T, typename TO>
void CheckColumnSum(int64_t rows, int64_t cols, int64_t offset = 0) {
  SCOPED_TRACE("rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) + " offset " + std::to_string(offset));
  const Tensor g = Seen(Tensor::Randn({rows, cols}, 41), DTypeOf<T>());
  Tensor want = Tensor::Zeros({cols});
  for (int64_t j = 0; j < cols; ++j) {
    double s = 0;
    for (int64_t i = 0; i < rows; ++i) s += g.data<float>()[i * cols + j];
    want.data<float>()[j] = float(s);
  }
  const Tensor gg = offset ? MisalignedOnGpu(g, DTypeOf<T>()) : OnGpu(g, DTypeOf<T>());
  Tensor out = Tensor::Empty({cols}, DTypeOf<TO>(), Device::CUDA(0));
  Tensor scratch = Tensor::Empty({int64_t(cuda::ColumnSumScratchBytes(rows, cols))}, DType::kU8, Device::CUDA(0));
  cuda::ColumnSum<T, TO>(gg.data<T>(), out.data<TO>(), rows, cols, scratch.raw_data());
  EXPECT_GPU_CLOSE(OnHost(out), want, TolFor(DTypeOf<TO>(), rows));
}

TEST_F(GpuTest, ColumnSum) {
  for (const auto& [rows, cols] : std::vector<std::array<int64_t, 2>>{
           {1, 3}, {37, 100}, {197, 37}, {64 * 197, 768}, {1000, 8}, {37, 96}, {500, 2056}, {200 * 197, 16}}) {
    CheckColumnSum<float, float>(rows, cols);
    CheckColumnSum<bf16, bf16>(rows, cols);
    CheckColumnSum<bf16, float>(rows, cols);
  }
  CheckColumnSum<bf16, float>(64 * 197, 768, /*offset=*/1);
}

// ops::Linear on the GPU: forward and the gradients of x, W and b, against the CPU op on the same inputs.
void CheckLinear(const Shape& x_shape, int64_t outf, DType dt, bool with_bias) {
  SCOPED_TRACE("x " + ShapeToString(x_shape) + " out=" + std::to_string(outf) + " " + DTypeName(dt) +
               (with_bias ? " +bias" : ""));
  const int64_t in = x_shape.back();
  Shape out_shape = x_shape;
  out_shape.back() = outf;
  const Tensor x = Seen(Tensor::Randn(x_shape, 51), dt), w = Seen(Tensor::Randn({outf, in}, 52), dt);
  const Tensor b = with_bias ? Seen(Tensor::Randn({outf}, 53), dt) : Tensor();
  const Tensor g = Seen(Tensor::Randn(out_shape, 54), dt);

  Tensor cx = x.Clone(), cw = w.Clone(), cb = with_bias ? b.Clone() : Tensor();
  cx.set_requires_grad(true);
  cw.set_requires_grad(true);
  if (with_bias) cb.set_requires_grad(true);
  const Tensor want = ops::Linear(cx, cw, cb);
  const std::vector<Tensor> want_grads = GradsOf(want, g);

  Tensor gx = OnGpu(x, dt), gw = OnGpu(w, dt), gb = with_bias ? OnGpu(b, dt) : Tensor();
  gx.set_requires_grad(true);
  gw.set_requires_grad(true);
  if (with_bias) gb.set_requires_grad(true);
  const Tensor got = ops::Linear(gx, gw, gb);
  EXPECT_TRUE(got.device() == Device::CUDA(0) && got.dtype() == dt);
  const std::vector<Tensor> got_grads = GradsOf(got, OnGpu(g, dt));
  EXPECT_GPU_CLOSE(OnHost(got), want, TolFor(dt, in));
  ASSERT_EQ(got_grads.size(), want_grads.size());
  const int64_t rows = x.numel() / in;
  for (size_t i = 0; i < got_grads.size(); ++i) {
    SCOPED_TRACE("gradient " + std::to_string(i));
    EXPECT_TRUE(got_grads[i].device() == Device::CUDA(0));
    EXPECT_GPU_CLOSE(OnHost(got_grads[i]), want_grads[i], TolFor(dt, i == 0 ? outf : rows));
  }
}

TEST_F(GpuTest, LinearOpMatchesCpu) {
  for (DType dt : {DType::kF32, DType::kBF16}) {
    CheckLinear({2, 37, 100}, 3, dt, true);
    CheckLinear({37, 3}, 100, dt, true);
    CheckLinear({3, 197, 37}, 197, dt, false);
    CheckLinear({4, 197, 768}, 2304, dt, true);
  }
}

// ops::LinearMixed on the GPU: bf16 input and values, f32 master parameters whose gradients come in f32
// straight from the fp32 accumulators. Against the f32 CPU op on the same (rounded) values: the output
// and dx in bf16 tolerances, dW and db in f32 ones (only the summation order differs).
void CheckLinearMixed(const Shape& x_shape, int64_t outf) {
  SCOPED_TRACE("x " + ShapeToString(x_shape) + " out=" + std::to_string(outf));
  const int64_t in = x_shape.back();
  Shape out_shape = x_shape;
  out_shape.back() = outf;
  const DType bf = DType::kBF16;
  const Tensor x = Seen(Tensor::Randn(x_shape, 55), bf), w = Seen(Tensor::Randn({outf, in}, 56), bf);
  const Tensor b = Seen(Tensor::Randn({outf}, 57), bf), g = Seen(Tensor::Randn(out_shape, 58), bf);
  Tensor cx = x.Clone(), cw = w.Clone(), cb = b.Clone();
  for (Tensor* t : {&cx, &cw, &cb}) t->set_requires_grad(true);
  const Tensor want = ops::Linear(cx, cw, cb);
  const std::vector<Tensor> want_grads = GradsOf(want, g);

  Tensor gx = OnGpu(x, bf), gw = OnGpu(w, DType::kF32), gb = OnGpu(b, DType::kF32);
  for (Tensor* t : {&gx, &gw, &gb}) t->set_requires_grad(true);
  const Tensor got = ops::LinearMixed(gx, gw, gw.To(bf), gb, gb.To(bf));
  EXPECT_TRUE(got.device() == Device::CUDA(0) && got.dtype() == bf);
  EXPECT_GPU_CLOSE(OnHost(got), want, TolFor(bf, in));
  const std::vector<Tensor> got_grads = GradsOf(got, OnGpu(g, bf));
  ASSERT_EQ(got_grads.size(), 3u);
  EXPECT_EQ(got_grads[0].dtype(), bf);
  EXPECT_EQ(got_grads[1].dtype(), DType::kF32);
  EXPECT_EQ(got_grads[2].dtype(), DType::kF32);
  const int64_t rows = x.numel() / in;
  EXPECT_GPU_CLOSE(OnHost(got_grads[0]), want_grads[0], TolFor(bf, outf));
  EXPECT_GPU_CLOSE(OnHost(got_grads[1]), want_grads[1], TolFor(DType::kF32, rows));
  EXPECT_GPU_CLOSE(OnHost(got_grads[2]), want_grads[2], TolFor(DType::kF32, rows));
}

TEST_F(GpuTest, LinearMixedMatchesCpu) {
  CheckLinearMixed({2, 37, 100}, 3);
  CheckLinearMixed({3, 197, 37}, 197);
  CheckLinearMixed({4, 197, 768}, 2304);
}

// ops::Matmul on the GPU: batched (equal batch dims) and with a shared 2-D right operand.
void CheckMatmul(const Shape& a_shape, const Shape& b_shape, DType dt) {
  SCOPED_TRACE(ShapeToString(a_shape) + " @ " + ShapeToString(b_shape) + " " + DTypeName(dt));
  const Tensor a = Seen(Tensor::Randn(a_shape, 61), dt), b = Seen(Tensor::Randn(b_shape, 62), dt);
  Tensor ca = a.Clone(), cb = b.Clone();
  ca.set_requires_grad(true);
  cb.set_requires_grad(true);
  const Tensor want = ops::Matmul(ca, cb);
  const Tensor g = Seen(Tensor::Randn(want.shape(), 63), dt);
  const std::vector<Tensor> want_grads = GradsOf(want, g);

  Tensor ga = OnGpu(a, dt), gb = OnGpu(b, dt);
  ga.set_requires_grad(true);
  gb.set_requires_grad(true);
  const Tensor got = ops::Matmul(ga, gb);
  EXPECT_TRUE(got.device() == Device::CUDA(0) && got.dtype() == dt);
  const std::vector<Tensor> got_grads = GradsOf(got, OnGpu(g, dt));
  // Summed terms: K forward, N for da, the batch's rows for db (all of them when b is shared).
  const int64_t K = a_shape.back(), N = b_shape.back(), rows = a.numel() / K;
  EXPECT_GPU_CLOSE(OnHost(got), want, TolFor(dt, K));
  for (size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE("gradient " + std::to_string(i));
    EXPECT_GPU_CLOSE(OnHost(got_grads[i]), want_grads[i], TolFor(dt, i == 0 ? N : rows));
  }
}

TEST_F(GpuTest, MatmulOpMatchesCpu) {
  for (DType dt : {DType::kF32, DType::kBF16}) {
    CheckMatmul({3, 37, 100}, {3, 100, 5}, dt);
    CheckMatmul({2, 3, 197, 64}, {2, 3, 64, 197}, dt);
    CheckMatmul({2, 197, 37}, {37, 3}, dt);
    CheckMatmul({37, 3}, {3, 100}, dt);
  }
}

}  // namespace
}  // namespace vfm

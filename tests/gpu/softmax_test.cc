// Softmax and LogSoftmax on the GPU (kernels/cuda/softmax.cu) against the CPU: the ops' forward and
// backward in f32 and bf16, widths from 1 to 65536 (the iBOT head has K = 8192), and the backward
// kernels alone on identical bf16 inputs.
#include <cmath>
#include <memory>
#include <vector>

#include "autograd/ops.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cuda/softmax.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::GradsOf;
using testing::OnGpu;
using testing::kBf16Unit;
using testing::RoundedToBf16;

class SoftmaxGpu : public testing::GpuTest {};

struct Width {
  int64_t rows, C;
};
const Width kWidths[] = {{197 * 3, 37}, {197 * 3, 100}, {197 * 3, 768}, {197 * 3, 8192}, {7, 65536}, {4, 1}, {5, 3}};

// op(x) on the GPU in `dtype` against the host op on the same (rounded) inputs, forward and backward.
void CheckOp(Tensor (*op)(const Tensor&), const char* name, int64_t rows, int64_t C, DType dtype, double fwd_tol,
             double bwd_tol) {
  SCOPED_TRACE(::testing::Message() << name << " [" << rows << ", " << C << "] " << DTypeName(dtype));
  const bool bf = dtype == DType::kBF16;
  auto prepare = [&](const Tensor& t) { return bf ? RoundedToBf16(t) : t; };
  Tensor x = prepare(ops::Scale(Tensor::Randn({rows, C}, 1), 3.0));  // peaked rows, as with a low temperature
  const Tensor g = prepare(Tensor::Randn({rows, C}, 2));
  Tensor xg = OnGpu(x, dtype);
  x.set_requires_grad(true);
  xg.set_requires_grad(true);
  const Tensor want = op(x), got = op(xg);
  EXPECT_TRUE(got.device() == Device::CUDA(0));
  EXPECT_EQ(got.dtype(), dtype);
  EXPECT_GPU_CLOSE(got.ToDevice(Device::CPU()), want, fwd_tol);
  const std::vector<Tensor> want_grads = GradsOf(want, g), got_grads = GradsOf(got, OnGpu(g, dtype));
  ASSERT_EQ(got_grads.size(), 1u);
  ASSERT_EQ(want_grads.size(), 1u);
  EXPECT_TRUE(got_grads[0].device() == Device::CUDA(0));
  EXPECT_EQ(got_grads[0].dtype(), dtype);
  EXPECT_GPU_CLOSE(got_grads[0].ToDevice(Device::CPU()), want_grads[0], bwd_tol);
}

// f32: expf and the order of the fp32 sums differ from the host (double sums): 1e-5 relative.
TEST_F(SoftmaxGpu, F32MatchesHost) {
  for (const Width& w : kWidths) {
    // The backward's row sum over up to 65536 terms in another order: 5e-5 (measured 1.4e-5 at 8192).
    CheckOp(ops::Softmax, "softmax", w.rows, w.C, DType::kF32, 1e-5, 5e-5);
    CheckOp(ops::LogSoftmax, "log_softmax", w.rows, w.C, DType::kF32, 1e-5, 5e-5);
  }
}

// bf16 forward: same rounded inputs, fp32 inside, one output rounding: 2 units. The backward reads the
// output the op saved, which is bf16 (rounded once more than the host's f32 one): for log-softmax an
// error of |l| * 2^-9 in l (|l| ~ 10 for wide rows) scales exp(l); for softmax dx = y (g - sum g y)
// cancels where g is close to its y-weighted mean, so a rounding of y shows up enlarged. Measured on the
// H200: up to 13 units (softmax, width 100); 16 units for both backwards. The kernels alone on the same
// bf16 inputs agree within 2 units (Bf16BackwardKernels).
TEST_F(SoftmaxGpu, Bf16MatchesHost) {
  for (const Width& w : kWidths) {
    CheckOp(ops::Softmax, "softmax", w.rows, w.C, DType::kBF16, 2 * kBf16Unit, 16 * kBf16Unit);
    CheckOp(ops::LogSoftmax, "log_softmax", w.rows, w.C, DType::kBF16, 2 * kBf16Unit, 16 * kBf16Unit);
  }
}

// Rows with very large logits and with -inf entries (masked logits) stay finite where the host's do.
TEST_F(SoftmaxGpu, LargeAndInfiniteLogits) {
  std::vector<float> v(2 * 300);
  for (int c = 0; c < 300; ++c) {
    v[size_t(c)] = 1000.0f + float(c % 7);
    v[size_t(300 + c)] = c % 3 == 0 ? -INFINITY : float(c % 11) * 0.5f;
  }
  const Tensor x = Tensor::FromVector(v, {2, 300});
  const Tensor y = ops::Softmax(x.ToDevice(Device::CUDA(0))).ToDevice(Device::CPU());
  const Tensor l = ops::LogSoftmax(x.ToDevice(Device::CUDA(0))).ToDevice(Device::CPU());
  const std::vector<float> want_y = ops::Softmax(x).ToVector(), want_l = ops::LogSoftmax(x).ToVector();
  const std::vector<float> got_y = y.ToVector(), got_l = l.ToVector();
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_NEAR(got_y[i], want_y[i], 1e-6) << i;
    if (std::isinf(want_l[i])) {
      EXPECT_EQ(got_l[i], want_l[i]) << i;
    } else {
      EXPECT_NEAR(got_l[i], want_l[i], 1e-5) << i;
    }
  }
}

// The backward kernels alone on identical bf16 inputs: only the output rounding differs (2 units).
TEST_F(SoftmaxGpu, Bf16BackwardKernels) {
  for (const Width& w : kWidths) {
    SCOPED_TRACE(::testing::Message() << "[" << w.rows << ", " << w.C << "]");
    const Tensor x = ops::Scale(Tensor::Randn({w.rows, w.C}, 3), 3.0);
    const Tensor dy = RoundedToBf16(Tensor::Randn({w.rows, w.C}, 4));
    const Tensor y = RoundedToBf16(ops::Softmax(x)), l = RoundedToBf16(ops::LogSoftmax(x));
    const Tensor dyg = OnGpu(dy, DType::kBF16), yg = OnGpu(y, DType::kBF16), lg = OnGpu(l, DType::kBF16);

    Tensor want = Tensor::Empty({w.rows, w.C}, DType::kF32);
    Tensor got = Tensor::Empty({w.rows, w.C}, DType::kBF16, Device::CUDA(0));
    cpu::SoftmaxBackward<float>(dy.data<float>(), y.data<float>(), want.data<float>(), w.rows, w.C);
    cuda::SoftmaxBackward<bf16>(dyg.data<bf16>(), yg.data<bf16>(), got.data<bf16>(), w.rows, w.C);
    EXPECT_GPU_CLOSE(got.ToDevice(Device::CPU()), want, 2 * kBf16Unit);

    cpu::LogSoftmaxBackward<float>(dy.data<float>(), l.data<float>(), want.data<float>(), w.rows, w.C);
    cuda::LogSoftmaxBackward<bf16>(dyg.data<bf16>(), lg.data<bf16>(), got.data<bf16>(), w.rows, w.C);
    EXPECT_GPU_CLOSE(got.ToDevice(Device::CPU()), want, 2 * kBf16Unit);
  }
}

}  // namespace
}  // namespace vfm

// The device-side record of the first non-finite loss (kernels/cuda/nonfinite.h): finite values leave it
// at -1, the first NaN or infinity sets it to its step, later ones do not move it.
#include <cmath>
#include <limits>

#include "kernels/cuda/nonfinite.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::GpuTest;

TEST_F(GpuTest, RecordsTheFirstNonFiniteStep) {
  Tensor first = Tensor::Full({1}, -1.0, DType::kI64, Gpu());
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  const std::vector<float> losses = {2.5f, -3.0f, 0.0f, inf, 1.0f, nan, -inf};
  std::vector<double> seen;
  for (size_t i = 0; i < losses.size(); ++i) {
    const Tensor loss = Tensor::Full({}, double(losses[i]), DType::kF32, Gpu());
    cuda::RecordFirstNonFinite(loss.data<float>(), int64_t(i + 1), first.data<int64_t>());
    seen.push_back(first.item());
  }
  EXPECT_EQ(seen, (std::vector<double>{-1, -1, -1, 4, 4, 4, 4}));
}

}  // namespace
}  // namespace vfm

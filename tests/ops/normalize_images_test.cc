// ops::NormalizeImages on the host (kernels/cpu/normalize_images.h): (v / 255 - mean) / std per sample and
// channel, from the (scale, shift) table; and its checks.
#include "kernels/cpu/normalize_images.h"
#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {

TEST(NormalizeImages, PerSampleAndChannelStatistics) {
  const int64_t B = 2, H = 3, W = 4;
  Tensor images = Tensor::Empty({B, 3, H, W}, DType::kU8);
  for (int64_t i = 0; i < images.numel(); ++i) images.data<uint8_t>()[i] = uint8_t((i * 37) % 256);
  const float mean[2][3] = {{0.5f, 0.4f, 0.3f}, {0.2f, 0.25f, 0.3f}};
  const float stdev[2][3] = {{0.2f, 0.25f, 0.3f}, {0.1f, 0.15f, 0.5f}};
  Tensor norms = Tensor::Empty({B, 3, 2}, DType::kF32);
  for (int64_t b = 0; b < B; ++b)
    for (int c = 0; c < 3; ++c) {
      const cpu::PlaneNorm n = cpu::PlaneNormFor(mean[b][c], stdev[b][c]);
      norms.data<float>()[(b * 3 + c) * 2] = n.scale;
      norms.data<float>()[(b * 3 + c) * 2 + 1] = n.shift;
    }
  const Tensor out = ops::NormalizeImages(images, norms, DType::kF32);
  ASSERT_EQ(out.shape(), images.shape());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          const double v = images.at({b, c, y, x});
          EXPECT_NEAR(out.at({b, c, y, x}), (v / 255 - mean[b][c]) / stdev[b][c], 1e-5);
        }
  EXPECT_THROW(ops::NormalizeImages(images, Tensor::Zeros({B, 3}, DType::kF32), DType::kF32), Error);
  EXPECT_THROW(ops::NormalizeImages(images.To(DType::kF32), norms, DType::kF32), Error);
  EXPECT_THROW(ops::NormalizeImages(images, norms, DType::kF64), Error);
}

}  // namespace
}  // namespace vfm

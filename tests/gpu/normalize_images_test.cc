// The augmentation tail on the GPU (kernels/cuda/normalize_images.cu through ops::NormalizeImages):
// f32 bit for bit the host's (the same fused multiply-add), bf16 that value rounded once.
#include "autograd/ops.h"
#include "kernels/cpu/normalize_images.h"
#include "kernels/random.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::GpuTest;

TEST_F(GpuTest, NormalizeImagesMatchesTheHost) {
  const int64_t B = 5, S = 37;
  Tensor images = Tensor::Empty({B, 3, S, S}, DType::kU8);
  Rng rng(3);
  for (int64_t i = 0; i < images.numel(); ++i) images.data<uint8_t>()[i] = uint8_t(rng.Uniform() * 256);
  Tensor norms = Tensor::Empty({B, 3, 2}, DType::kF32);
  for (int64_t p = 0; p < B * 3; ++p) {  // a different mean/std per sample and channel
    const cpu::PlaneNorm n = cpu::PlaneNormFor(0.3f + 0.01f * float(p), 0.2f + 0.005f * float(p));
    norms.data<float>()[2 * p] = n.scale;
    norms.data<float>()[2 * p + 1] = n.shift;
  }
  const Tensor want = ops::NormalizeImages(images, norms, DType::kF32);
  const Tensor got = ops::NormalizeImages(images.ToDevice(Gpu()), norms.ToDevice(Gpu()), DType::kF32);
  EXPECT_EQ(got.ToVector(), want.ToVector());
  const Tensor got16 = ops::NormalizeImages(images.ToDevice(Gpu()), norms.ToDevice(Gpu()), DType::kBF16);
  EXPECT_EQ(got16.ToVector(), want.To(DType::kBF16).ToVector());
}

}  // namespace
}  // namespace vfm

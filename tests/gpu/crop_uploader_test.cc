// Crops uploaded on the copy stream (trainer/crop_uploader.h) give what a plain upload and
// ops::NormalizeImages give, over steps that reuse the buffers while earlier steps' work is still queued
// (nothing here waits for the device until the end), with two crop sizes per step.
#include <vector>

#include "autograd/ops.h"
#include "kernels/cpu/normalize_images.h"
#include "kernels/random.h"
#include "tests/gpu/gpu_test.h"
#include "trainer/crop_uploader.h"

namespace vfm {
namespace {
using testing::GpuTest;

std::vector<uint8_t> RandomPixels(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint8_t> pixels(size_t(n), 0);
  for (uint8_t& p : pixels) p = uint8_t(rng.Uniform() * 256);
  return pixels;
}

TEST_F(GpuTest, CropUploaderMatchesPlainUploads) {
  const int64_t B = 4, big = 64, small = 24;
  Tensor norms = Tensor::Empty({B, 3, 2}, DType::kF32);
  for (int64_t p = 0; p < B * 3; ++p) {
    const cpu::PlaneNorm n = cpu::PlaneNormFor(0.3f + 0.01f * float(p), 0.2f + 0.005f * float(p));
    norms.data<float>()[2 * p] = n.scale;
    norms.data<float>()[2 * p + 1] = n.shift;
  }
  const Tensor gpu_norms = norms.ToDevice(Gpu());
  CropUploader uploader(Gpu());
  std::vector<Tensor> got;
  std::vector<std::vector<uint8_t>> sent;
  std::vector<int64_t> sizes;
  for (int step = 0; step < 5; ++step) {
    uploader.BeginStep();
    // Two of the big size and three of the small one, as a step's global and local crops.
    for (int k = 0; k < 5; ++k) {
      const int64_t size = k < 2 ? big : small;
      sent.push_back(RandomPixels(B * 3 * size * size, uint64_t(100 * step + k)));
      sizes.push_back(size);
      got.push_back(uploader.Upload(sent.back(), B, size, gpu_norms, DType::kBF16));
      // Work queued behind the upload on the compute stream, reading the crops (as a step would).
      got.back() = ops::Scale(got.back(), 1.0);
    }
  }
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(i);
    const int64_t size = sizes[i];
    Tensor images = Tensor::Empty({B, 3, size, size}, DType::kU8);
    std::copy(sent[i].begin(), sent[i].end(), images.data<uint8_t>());
    const Tensor want = ops::NormalizeImages(images.ToDevice(Gpu()), gpu_norms, DType::kBF16);
    EXPECT_EQ(got[i].ToVector(), want.ToVector());
  }
  EXPECT_THROW(uploader.Upload(sent[0], B, small, gpu_norms, DType::kBF16), Error);  // wrong byte count
}

}  // namespace
}  // namespace vfm

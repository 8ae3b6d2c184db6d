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

// A group of `rows` crops of `side` pixels with random pixels and a per-row normalisation table.
data::CropGroup RandomGroup(int64_t rows, int64_t side, uint64_t seed) {
  Rng rng(seed);
  data::CropGroup g;
  g.rows = rows;
  g.side = side;
  g.pixels.resize(size_t(rows * 3 * side * side));
  for (uint8_t& p : g.pixels) p = uint8_t(rng.Uniform() * 256);
  for (int64_t p = 0; p < rows * 3; ++p) {
    const cpu::PlaneNorm n = cpu::PlaneNormFor(0.3f + 0.1f * rng.Uniform(), 0.2f + 0.05f * rng.Uniform());
    g.norms.push_back(n.scale);
    g.norms.push_back(n.shift);
  }
  return g;
}

TEST_F(GpuTest, CropUploaderMatchesPlainUploads) {
  const int64_t B = 4, big = 64, small = 24;
  CropUploader uploader(Gpu());
  std::vector<Tensor> got;
  std::vector<data::CropGroup> sent;
  for (int step = 0; step < 5; ++step) {
    uploader.BeginStep();
    // Two crops of the big size and three of the small one per sample, as a step's global and local groups.
    for (int k = 0; k < 2; ++k) {
      sent.push_back(RandomGroup(k == 0 ? 2 * B : 3 * B, k == 0 ? big : small, uint64_t(100 * step + k)));
      got.push_back(uploader.Upload(sent.back(), DType::kBF16));
      // Work queued behind the upload on the compute stream, reading the crops (as a step would).
      got.back() = ops::Scale(got.back(), 1.0);
    }
  }
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(i);
    const data::CropGroup& g = sent[i];
    Tensor images = Tensor::Empty({g.rows, 3, g.side, g.side}, DType::kU8);
    std::copy(g.pixels.begin(), g.pixels.end(), images.data<uint8_t>());
    const Tensor norms = Tensor::FromVector(g.norms, {g.rows, 3, 2}).ToDevice(Gpu());
    const Tensor want = ops::NormalizeImages(images.ToDevice(Gpu()), norms, DType::kBF16);
    EXPECT_EQ(got[i].ToVector(), want.ToVector());
  }
  data::CropGroup short_group = sent[0];
  short_group.pixels.pop_back();
  EXPECT_THROW(uploader.Upload(short_group, DType::kBF16), Error);  // wrong byte count
}

}  // namespace
}  // namespace vfm

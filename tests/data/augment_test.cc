// Augmentation and masking properties that torchvision cannot check for us: crop draws stay in bounds and
// are reproducible, scaled JPEG decoding never shrinks a crop below its output size and renders nearly the
// same views as a full decode, masks respect their ratio, gray is widened to three equal planes.
#include <cmath>

#include "data/augment.h"
#include "data/decode.h"
#include "data/masking.h"
#include "data/multicrop.h"
#include "gtest/gtest.h"
#include "tests/data/fixtures.h"

namespace vfm::data {
namespace {

TEST(Augment, CropDrawsAreInBoundsAndReproducible) {
  ViewOptions o;
  for (int i = 0; i < 500; ++i) {
    Rng a(MixKey({1, uint64_t(i)})), b(MixKey({1, uint64_t(i)}));
    const ViewParams v = DrawView(a, 300, 500, o), w = DrawView(b, 300, 500, o);
    EXPECT_EQ(v.top, w.top);
    EXPECT_EQ(v.width, w.width);
    EXPECT_EQ(v.brightness, w.brightness);
    ASSERT_GE(v.top, 0);
    ASSERT_GE(v.left, 0);
    ASSERT_LE(v.top + v.height, 300);
    ASSERT_LE(v.left + v.width, 500);
    const double area = double(v.height) * v.width / (300.0 * 500.0), ratio = double(v.width) / v.height;
    EXPECT_GT(area, 0.30);
    EXPECT_LT(area, 1.02);
    EXPECT_GT(ratio, 0.78);
    EXPECT_LT(ratio, 1.22);
  }
  // A scale no crop can meet falls back to torchvision's centre crop at the allowed ratio.
  o.scale_min = 2.0f;
  o.scale_max = 3.0f;
  Rng rng(5);
  const ViewParams v = DrawView(rng, 300, 500, o);
  EXPECT_EQ(v.height, 300);
  EXPECT_EQ(v.width, 360);  // round(300 * 1.2)
  EXPECT_EQ(v.left, 70);
}

TEST(Augment, ScaledDecodeNeverShrinksACropBelowItsSize) {
  MultiCropOptions o;
  o.local_crops = 10;
  int used[9] = {};
  for (int i = 0; i < 300; ++i) {
    std::vector<ViewParams> views;
    for (int v = 0; v < 12; ++v) {
      Rng rng(MixKey({3, uint64_t(i), uint64_t(v)}));
      views.push_back(DrawView(rng, 3000, 4000, v < 2 ? o.global : o.local));
    }
    const int d = ChooseScaleDenom(views);
    ++used[d];
    bool next_fits = d < 8;
    for (const ViewParams& v : views) {
      ASSERT_GE(v.height / d, v.size);
      ASSERT_GE(v.width / d, v.size);
      next_fits &= v.height / (2 * d) >= v.size && v.width / (2 * d) >= v.size;
    }
    EXPECT_FALSE(next_fits) << "a coarser scale would have fitted";
  }
  EXPECT_GT(used[8] + used[4], 250);  // big photos mostly decode at 1/4 or 1/8
}

TEST(Augment, ScaledDecodeRendersNearlyTheSameViews) {
  const std::string bytes = testing::ReadFile(testing::SkimageFile("retina.jpg"));
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  Image full, scaled, a, b;
  ASSERT_TRUE(DecodeImage(data, bytes.size(), Codec::kJpeg, {}, 1, &full).ok());
  ASSERT_TRUE(DecodeImage(data, bytes.size(), Codec::kJpeg, {}, 4, &scaled).ok());
  ViewOptions o;
  o.size = 96;  // 1411 / 4 = 352 px: every global-scale crop still has more than 96 px
  o.jitter_p = o.gray_p = o.flip_p = 0;
  double total = 0;
  for (int i = 0; i < 10; ++i) {
    Rng rng(MixKey({9, uint64_t(i)}));
    const ViewParams v = DrawView(rng, 1411, 1411, o);
    RenderView(full, 1411, 1411, v, &a);
    RenderView(scaled, 1411, 1411, v, &b);
    double sum = 0;
    for (size_t k = 0; k < a.pixels.size(); ++k) sum += std::abs(int(a.pixels[k]) - int(b.pixels[k]));
    total += sum / double(a.pixels.size());
  }
  EXPECT_LT(total / 10, 2.0);
}

TEST(Masking, RatioIsRespectedAndDrawsAreReproducible) {
  std::vector<uint8_t> mask(14 * 14), again(14 * 14);
  for (int i = 0; i < 200; ++i) {
    const float ratio = 0.1f + 0.4f * float(i) / 200;
    Rng a(MixKey({4, uint64_t(i)})), b(MixKey({4, uint64_t(i)}));
    BlockMask(a, 14, 14, ratio, 0.3f, mask.data());
    BlockMask(b, 14, 14, ratio, 0.3f, again.data());
    EXPECT_EQ(mask, again);
    int n = 0;
    for (uint8_t m : mask) n += m;
    EXPECT_LE(n, std::ceil(ratio * 196));
    EXPECT_GT(n, 0);
  }
  Rng rng(1);
  BlockMask(rng, 14, 14, 0.0f, 0.3f, mask.data());
  for (uint8_t m : mask) EXPECT_EQ(m, 0);
}

TEST(Augment, GrayIsWidenedToThreeEqualPlanes) {
  Image gray = testing::Pattern(5, 7, 1);
  std::vector<float> out(3 * 35);
  NormalizeToPlanar(gray, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}, out.data());
  for (int i = 0; i < 35; ++i) {
    EXPECT_NEAR(out[i], (gray.pixels[i] / 255.0f - 0.5f) / 0.25f, 1e-6f);
    EXPECT_EQ(out[i], out[35 + i]);
    EXPECT_EQ(out[i], out[70 + i]);
  }
  std::vector<uint8_t> u8(3 * 35);
  CopyToPlanar(gray, u8.data());
  for (int i = 0; i < 35; ++i) EXPECT_EQ(u8[70 + i], gray.pixels[i]);
}

}  // namespace
}  // namespace vfm::data

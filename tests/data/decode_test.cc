// Decoders: real photos (skimage's retina.jpg fundus photo, microaneurysms.png), scaled JPEG decoding,
// 16-bit PNG, and corrupt or truncated input giving an error value, never a crash.
#include "data/decode.h"

#include <algorithm>

#include "gtest/gtest.h"
#include "kernels/random.h"
#include "tests/data/fixtures.h"

namespace vfm::data {
namespace {
using testing::ReadFile;
using testing::SkimageFile;

absl::Status Decode(const std::string& bytes, Codec codec, int scale, Image* out) {
  return DecodeImage(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), codec, {}, scale, out);
}

TEST(ImageDecode, RetinaJpegFullAndScaled) {
  const std::string jpeg = ReadFile(SkimageFile("retina.jpg"));
  auto header = ProbeImage(reinterpret_cast<const uint8_t*>(jpeg.data()), jpeg.size(), Codec::kJpeg);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->height, 1411);
  EXPECT_EQ(header->channels, 3);
  Image full, half, eighth;
  ASSERT_TRUE(Decode(jpeg, Codec::kJpeg, 1, &full).ok());
  ASSERT_TRUE(Decode(jpeg, Codec::kJpeg, 2, &half).ok());
  ASSERT_TRUE(Decode(jpeg, Codec::kJpeg, 8, &eighth).ok());
  EXPECT_EQ(full.width, 1411);
  EXPECT_EQ(half.width, 706);  // ceil(1411 / 2)
  EXPECT_EQ(eighth.height, 177);
  // The scaled decode is a faithful downscale: compare an 8x8 block mean with the 1/8 pixel.
  double diff = 0;
  int n = 0;
  for (int y = 40; y < 170; y += 13)
    for (int x = 40; x < 170; x += 11)
      for (int c = 0; c < 3; ++c) {
        double mean = 0;
        for (int dy = 0; dy < 8; ++dy)
          for (int dx = 0; dx < 8; ++dx) mean += full.row(8 * y + dy)[(8 * x + dx) * 3 + c];
        diff += std::abs(mean / 64 - eighth.row(y)[x * 3 + c]);
        ++n;
      }
  EXPECT_LT(diff / n, 2.0);
  EXPECT_FALSE(Decode(jpeg, Codec::kJpeg, 3, &full).ok());  // only 1/2, 1/4, 1/8
}

TEST(ImageDecode, GrayPngStaysOneChannel) {
  Image image;
  ASSERT_TRUE(Decode(ReadFile(SkimageFile("microaneurysms.png")), Codec::kPng, 1, &image).ok());
  EXPECT_EQ(image.channels, 1);
  EXPECT_EQ(image.width, 102);
  Image gray_jpeg;
  ASSERT_TRUE(Decode(testing::EncodeJpeg(testing::Pattern(16, 24, 1)), Codec::kJpeg, 1, &gray_jpeg).ok());
  EXPECT_EQ(gray_jpeg.channels, 1);
}

TEST(ImageDecode, SixteenBitPngScalesToEightBits) {
  std::vector<uint16_t> values = {0, 257, 32768, 65535, 1000, 60000};
  Image image;
  ASSERT_TRUE(Decode(testing::EncodePng16(2, 3, values), Codec::kPng, 1, &image).ok());
  ASSERT_EQ(image.pixels.size(), 6u);
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(image.pixels[i], std::lround(values[i] * 255.0 / 65535.0)) << values[i];
}

TEST(ImageDecode, TruncatedAndCorruptInputGiveErrors) {
  Image image;
  const std::string truncated = ReadFile(SkimageFile("truncated.jpg"));
  EXPECT_FALSE(Decode(truncated, Codec::kJpeg, 1, &image).ok());
  const std::string retina = ReadFile(SkimageFile("retina.jpg"));
  for (size_t keep : {size_t(0), size_t(2), size_t(100), retina.size() / 2, retina.size() - 10})
    EXPECT_FALSE(Decode(retina.substr(0, keep), Codec::kJpeg, 4, &image).ok()) << keep;
  // The decoder recovers: a good image decodes right after a bad one, on the same thread.
  EXPECT_TRUE(Decode(retina, Codec::kJpeg, 8, &image).ok());
  const std::string png = ReadFile(SkimageFile("microaneurysms.png"));
  for (size_t keep : {size_t(0), size_t(8), size_t(40), png.size() / 2, png.size() - 12})
    EXPECT_FALSE(Decode(png.substr(0, keep), Codec::kPng, 1, &image).ok()) << keep;
  std::string garbled = png;
  for (size_t i = 60; i < garbled.size(); i += 7) garbled[i] = char(garbled[i] * 31 + 7);
  EXPECT_FALSE(Decode(garbled, Codec::kPng, 1, &image).ok());
  EXPECT_FALSE(Decode(std::string(1000, 'x'), Codec::kJpeg, 1, &image).ok());
  EXPECT_FALSE(SniffCodec(reinterpret_cast<const uint8_t*>("hello"), 5).ok());
  // Raw bytes must match the shape they claim.
  const std::string raw(12, '\7');
  EXPECT_TRUE(DecodeImage(reinterpret_cast<const uint8_t*>(raw.data()), 12, Codec::kRaw, {2, 2, 3}, 1, &image).ok());
  EXPECT_FALSE(DecodeImage(reinterpret_cast<const uint8_t*>(raw.data()), 12, Codec::kRaw, {3, 2, 3}, 1, &image).ok());
}

// Randomly damaged files (bytes flipped, runs zeroed, cut short) decode or fail, never crash, and never
// claim success with a wrong-sized image.
TEST(ImageDecode, SurvivesRandomlyDamagedFiles) {
  const std::string jpeg = ReadFile(SkimageFile("retina.jpg")), png = ReadFile(SkimageFile("microaneurysms.png"));
  Rng rng(2024);
  int failures = 0;
  for (int i = 0; i < 400; ++i) {
    const bool is_jpeg = i % 2 == 0;
    std::string bytes = is_jpeg ? jpeg : png;
    const int damage = int(rng.Below(3));
    if (damage == 0) {
      for (int k = 0; k < 1 + int(rng.Below(20)); ++k) bytes[rng.Below(bytes.size())] = char(rng.NextU32());
    } else if (damage == 1) {
      const size_t at = rng.Below(bytes.size()), n = std::min<size_t>(rng.Below(4000), bytes.size() - at);
      std::fill(bytes.begin() + long(at), bytes.begin() + long(at + n), '\0');
    } else {
      bytes.resize(rng.Below(bytes.size()));
    }
    Image image;
    absl::Status s = Decode(bytes, is_jpeg ? Codec::kJpeg : Codec::kPng, is_jpeg ? 8 : 1, &image);
    if (!s.ok()) {
      ++failures;
      continue;
    }
    EXPECT_EQ(image.pixels.size(), size_t(image.height) * image.width * image.channels);
  }
  EXPECT_GT(failures, 100);
}

}  // namespace
}  // namespace vfm::data

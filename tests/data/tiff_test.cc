// TIFF input (data/tiff.h): files written here with libtiff itself (8- and 16-bit gray, RGB, alpha, strips,
// tiles, separate planes, LZW, Deflate, JPEG, palette, 1-bit) decode to the expected pixels (16 bits by
// round(v * 255 / 65535), as PNG); unsupported layouts, multi-page files and damaged files are one-line
// errors with nothing on stderr; `vfm shard`'s converter stores TIFFs as raw pixels with matching statistics.
#include "data/tiff.h"

#include <tiffio.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "absl/strings/match.h"
#include "data/convert.h"
#include "data/dataset.h"
#include "data/modality_stats.h"
#include "gtest/gtest.h"
#include "kernels/random.h"
#include "tests/data/fixtures.h"

namespace vfm::data {
namespace {
using testing::Pattern;
using testing::ReadFile;
using testing::TempDir;

struct TiffSpec {
  int height = 0, width = 0, samples = 1, bits = 8;
  uint16_t photometric = PHOTOMETRIC_MINISBLACK, compression = COMPRESSION_NONE;
  uint16_t planar = PLANARCONFIG_CONTIG, format = SAMPLEFORMAT_UINT;
  int tile = 0;  // tile side (a multiple of 16); 0: strips of rows_per_strip rows
  int rows_per_strip = 3;
  int pages = 1;
  bool big = false;  // BigTIFF
  std::vector<uint16_t> colormap = {};  // palette: R, G, B tables of 2^bits entries each
};

// Writes `native` (rows top to bottom, samples interleaved, host byte order; below 8 bits: packed rows) as
// the TIFF `spec` describes, with libtiff, and returns the file's bytes.
std::string WriteTiff(const std::string& path, const TiffSpec& spec, const std::vector<uint8_t>& native) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  TIFF* tif = TIFFOpen(path.c_str(), spec.big ? "w8" : "w");
  if (!tif) std::abort();
  const size_t sample_bytes = size_t(std::max(spec.bits / 8, 1)), pixel_bytes = sample_bytes * spec.samples;
  const bool separate = spec.planar == PLANARCONFIG_SEPARATE;
  for (int page = 0; page < spec.pages; ++page) {
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, uint32_t(spec.width));
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, uint32_t(spec.height));
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, uint16_t(spec.bits));
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, uint16_t(spec.samples));
    TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, spec.format);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, spec.photometric);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, spec.planar);
    TIFFSetField(tif, TIFFTAG_COMPRESSION, spec.compression);
    if (spec.compression == COMPRESSION_JPEG) {  // libjpeg takes RGB rows and writes YCbCr
      TIFFSetField(tif, TIFFTAG_JPEGQUALITY, 95);
      TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    }
    const int colors = spec.photometric == PHOTOMETRIC_RGB || spec.photometric == PHOTOMETRIC_YCBCR ? 3
                       : spec.photometric == PHOTOMETRIC_SEPARATED                                ? 4
                                                                                                  : 1;
    if (spec.samples > colors) {  // the first extra sample is alpha
      std::vector<uint16_t> extra(size_t(spec.samples - colors), EXTRASAMPLE_UNSPECIFIED);
      extra[0] = EXTRASAMPLE_UNASSALPHA;
      TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, uint16_t(extra.size()), extra.data());
    }
    if (!spec.colormap.empty()) {
      const size_t n = spec.colormap.size() / 3;
      TIFFSetField(tif, TIFFTAG_COLORMAP, spec.colormap.data(), spec.colormap.data() + n, spec.colormap.data() + 2 * n);
    }
    const auto at = [&](int y, int x, int s) { return native.data() + ((size_t(y) * spec.width + x) * spec.samples + s) * sample_bytes; };
    const int planes = separate ? spec.samples : 1;
    const size_t chunk_pixel = separate ? sample_bytes : pixel_bytes;
    if (spec.tile > 0) {
      TIFFSetField(tif, TIFFTAG_TILEWIDTH, uint32_t(spec.tile));
      TIFFSetField(tif, TIFFTAG_TILELENGTH, uint32_t(spec.tile));
      std::vector<uint8_t> tile(size_t(spec.tile) * spec.tile * chunk_pixel);
      for (int s = 0; s < planes; ++s)
        for (int y0 = 0; y0 < spec.height; y0 += spec.tile)
          for (int x0 = 0; x0 < spec.width; x0 += spec.tile) {
            std::fill(tile.begin(), tile.end(), 0);
            for (int y = y0; y < std::min(y0 + spec.tile, spec.height); ++y)
              for (int x = x0; x < std::min(x0 + spec.tile, spec.width); ++x)
                std::memcpy(&tile[(size_t(y - y0) * spec.tile + (x - x0)) * chunk_pixel], at(y, x, s), chunk_pixel);
            EXPECT_GE(TIFFWriteTile(tif, tile.data(), uint32_t(x0), uint32_t(y0), 0, uint16_t(s)), 0);
          }
    } else {
      TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, uint32_t(spec.rows_per_strip));
      const size_t packed_row = (size_t(spec.width) * spec.bits * spec.samples + 7) / 8;
      std::vector<uint8_t> line(std::max(size_t(spec.width) * chunk_pixel, packed_row));
      for (int s = 0; s < planes; ++s)
        for (int y = 0; y < spec.height; ++y) {
          if (spec.bits < 8) {
            std::memcpy(line.data(), native.data() + y * packed_row, packed_row);
          } else {
            for (int x = 0; x < spec.width; ++x) std::memcpy(&line[x * chunk_pixel], at(y, x, s), chunk_pixel);
          }
          EXPECT_EQ(TIFFWriteScanline(tif, line.data(), uint32_t(y), uint16_t(s)), 1);
        }
    }
    EXPECT_EQ(TIFFWriteDirectory(tif), 1);
  }
  TIFFClose(tif);
  return ReadFile(path);
}

absl::Status Decode(const std::string& bytes, Image* out) {
  return DecodeTiff(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), out);
}

// 16-bit samples as native bytes.
std::vector<uint8_t> Bytes16(const std::vector<uint16_t>& values) {
  std::vector<uint8_t> out(values.size() * 2);
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

uint8_t Rule(uint16_t v) { return uint8_t(std::lround(v * 255.0 / 65535.0)); }

// A gray or RGB pattern with an alpha sample added (values that must not show in the output).
std::vector<uint8_t> WithAlpha(const Image& image) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < image.pixels.size(); i += size_t(image.channels)) {
    out.insert(out.end(), image.pixels.begin() + long(i), image.pixels.begin() + long(i) + image.channels);
    out.push_back(uint8_t(i * 37));
  }
  return out;
}

TEST(TiffDecode, EightBitGrayAndRgbInStripsTilesAndPlanes) {
  TempDir dir;
  struct Case {
    const char* name;
    int channels;
    TiffSpec spec;
    bool alpha = false;
  };
  std::vector<Case> cases = {
      {"gray strips", 1, {.photometric = PHOTOMETRIC_MINISBLACK}},
      {"gray lzw tiles", 1, {.compression = COMPRESSION_LZW, .tile = 16}},
      {"gray+alpha deflate", 1, {.samples = 2, .compression = COMPRESSION_ADOBE_DEFLATE}, true},
      {"rgb lzw strips", 3, {.samples = 3, .photometric = PHOTOMETRIC_RGB, .compression = COMPRESSION_LZW}},
      {"rgb deflate tiles", 3,
       {.samples = 3, .photometric = PHOTOMETRIC_RGB, .compression = COMPRESSION_ADOBE_DEFLATE, .tile = 16}},
      {"rgb separate planes", 3, {.samples = 3, .photometric = PHOTOMETRIC_RGB, .planar = PLANARCONFIG_SEPARATE}},
      {"rgb separate tiles", 3,
       {.samples = 3, .photometric = PHOTOMETRIC_RGB, .planar = PLANARCONFIG_SEPARATE, .tile = 16}},
      {"rgba lzw", 3, {.samples = 4, .photometric = PHOTOMETRIC_RGB, .compression = COMPRESSION_LZW}, true},
      {"rgb bigtiff", 3, {.samples = 3, .photometric = PHOTOMETRIC_RGB, .big = true}},
  };
  for (Case& c : cases) {
    c.spec.height = 21;  // not a multiple of the strip or tile size
    c.spec.width = 37;
    const Image expected = Pattern(21, 37, c.channels, 5);
    const std::string bytes =
        WriteTiff(dir / "a.tif", c.spec, c.alpha ? WithAlpha(expected) : expected.pixels);
    ASSERT_TRUE(IsTiff(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())) << c.name;
    Image image;
    ASSERT_TRUE(Decode(bytes, &image).ok()) << c.name << ": " << Decode(bytes, &image);
    EXPECT_EQ(image.height, 21) << c.name;
    EXPECT_EQ(image.width, 37) << c.name;
    EXPECT_EQ(image.channels, c.channels) << c.name;
    EXPECT_EQ(image.pixels, expected.pixels) << c.name;
  }
}

TEST(TiffDecode, SixteenBitsFollowThePngRule) {
  TempDir dir;
  std::vector<uint16_t> values;
  for (int i = 0; i < 21 * 37; ++i) values.push_back(uint16_t(i * 85 + (i % 7)));
  values[0] = 128;  // 128 * 255 / 65535 = 0.498: rounds to 0
  values[1] = 129;  // 0.502: rounds to 1
  values[2] = 65535;
  values[3] = 32896;  // 127.9981: 128
  const TiffSpec gray{.height = 21, .width = 37, .bits = 16, .compression = COMPRESSION_ADOBE_DEFLATE};
  Image image;
  ASSERT_TRUE(Decode(WriteTiff(dir / "g.tif", gray, Bytes16(values)), &image).ok());
  ASSERT_EQ(image.channels, 1);
  ASSERT_EQ(image.pixels.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(image.pixels[i], Rule(values[i])) << values[i];
  EXPECT_EQ(image.pixels[0], 0);
  EXPECT_EQ(image.pixels[1], 1);
  EXPECT_EQ(image.pixels[2], 255);
  EXPECT_EQ(image.pixels[3], 128);

  // Min-is-white: inverted (the rule of 65535 - v).
  TiffSpec white = gray;
  white.photometric = PHOTOMETRIC_MINISWHITE;
  ASSERT_TRUE(Decode(WriteTiff(dir / "w.tif", white, Bytes16(values)), &image).ok());
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(image.pixels[i], Rule(uint16_t(65535 - values[i]))) << i;

  // RGB, tiled, LZW; and an alpha sample, dropped.
  std::vector<uint16_t> rgb, rgba;
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t p[3] = {values[i], uint16_t(65535 - values[i]), uint16_t(values[i] * 3)};
    rgb.insert(rgb.end(), p, p + 3);
    rgba.insert(rgba.end(), p, p + 3);
    rgba.push_back(uint16_t(i));
  }
  TiffSpec color{.height = 21, .width = 37, .samples = 3, .bits = 16, .photometric = PHOTOMETRIC_RGB,
                 .compression = COMPRESSION_LZW, .tile = 16};
  ASSERT_TRUE(Decode(WriteTiff(dir / "c.tif", color, Bytes16(rgb)), &image).ok());
  ASSERT_EQ(image.channels, 3);
  for (size_t i = 0; i < rgb.size(); ++i) ASSERT_EQ(image.pixels[i], Rule(rgb[i])) << i;
  color.samples = 4;
  color.tile = 0;
  ASSERT_TRUE(Decode(WriteTiff(dir / "a.tif", color, Bytes16(rgba)), &image).ok());
  ASSERT_EQ(image.channels, 3);
  for (size_t i = 0; i < rgb.size(); ++i) ASSERT_EQ(image.pixels[i], Rule(rgb[i])) << i;
}

TEST(TiffDecode, PaletteBilevelAndJpeg) {
  TempDir dir;
  // Palette: 8-bit indices into 16-bit colour tables (v * 257, as writers store 8-bit colours) -> RGB.
  TiffSpec palette{.height = 9, .width = 11, .photometric = PHOTOMETRIC_PALETTE};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 256; ++i) palette.colormap.push_back(uint16_t(((i * (c + 1) * 53) % 256) * 257));
  std::vector<uint8_t> indices(99);
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = uint8_t(i * 7);
  Image image;
  ASSERT_TRUE(Decode(WriteTiff(dir / "p.tif", palette, indices), &image).ok());
  ASSERT_EQ(image.channels, 3);
  for (size_t i = 0; i < indices.size(); ++i)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(image.pixels[i * 3 + c], palette.colormap[c * 256 + indices[i]] / 257) << i;

  // 1-bit gray (packed rows of 2 bytes): 0 and 255, still one channel, rows as stored.
  const TiffSpec bilevel{.height = 3, .width = 10, .bits = 1, .compression = COMPRESSION_PACKBITS};
  ASSERT_TRUE(Decode(WriteTiff(dir / "b.tif", bilevel, {0b10100000, 0b01000000, 0xFF, 0xC0, 0, 0}), &image).ok());
  ASSERT_EQ(image.channels, 1);
  EXPECT_EQ(image.pixels, (std::vector<uint8_t>{255, 0, 255, 0, 0, 0, 0, 0, 0, 255,  //
                                                255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
                                                0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));

  // JPEG-compressed YCbCr: decoded to RGB, close to what was written.
  const Image expected = Pattern(32, 48, 3, 2);
  const TiffSpec jpeg{.height = 32, .width = 48, .samples = 3, .photometric = PHOTOMETRIC_YCBCR,
                      .compression = COMPRESSION_JPEG, .rows_per_strip = 16};
  ASSERT_TRUE(Decode(WriteTiff(dir / "j.tif", jpeg, expected.pixels), &image).ok());
  ASSERT_EQ(image.channels, 3);
  ASSERT_EQ(image.pixels.size(), expected.pixels.size());
  double diff = 0;
  for (size_t i = 0; i < image.pixels.size(); ++i) diff += std::abs(int(image.pixels[i]) - int(expected.pixels[i]));
  EXPECT_LT(diff / double(image.pixels.size()), 4.0);
}

TEST(TiffDecode, UnsupportedLayoutsAreOneLineErrors) {
  TempDir dir;
  const std::vector<uint8_t> four_bytes_per_pixel(4 * 8 * 8, 1), two_pages(8 * 8, 1), five(5 * 8 * 8, 1);
  struct Case {
    TiffSpec spec;
    const std::vector<uint8_t>* data;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{.height = 8, .width = 8, .bits = 32, .format = SAMPLEFORMAT_IEEEFP}, &four_bytes_per_pixel,
       "tiff: floating-point samples are not supported"},
      {{.height = 8, .width = 8, .bits = 32}, &four_bytes_per_pixel,
       "tiff: 32-bit samples are not supported (1, 2, 4, 8 and 16 bits are)"},
      {{.height = 8, .width = 8, .bits = 16, .format = SAMPLEFORMAT_INT}, &four_bytes_per_pixel,
       "tiff: sample format 2 is not supported (unsigned integers are)"},
      {{.height = 8, .width = 8, .samples = 4, .photometric = PHOTOMETRIC_SEPARATED}, &four_bytes_per_pixel,
       "tiff: photometric interpretation 5 is not supported (gray, RGB, palette and YCbCr are)"},
      {{.height = 8, .width = 8, .samples = 5, .photometric = PHOTOMETRIC_RGB}, &five,
       "tiff: 5 samples per pixel are not supported (at most 4)"},
      {{.height = 8, .width = 8, .pages = 2}, &two_pages,
       "tiff: 2 pages: only single-page TIFFs are read (split it, e.g. with tiffsplit)"},
  };
  for (const Case& c : cases) {
    Image image;
    const absl::Status s = Decode(WriteTiff(dir / "u.tif", c.spec, *c.data), &image);
    EXPECT_EQ(s.message(), c.message);
    EXPECT_TRUE(image.pixels.empty());
  }
}

// Cut short, bytes flipped, runs zeroed: an error or an image of the right size, never a crash, and
// libtiff prints nothing (its first error is the message).
TEST(TiffDecode, DamagedFilesGiveErrorsAndNothingOnStderr) {
  TempDir dir;
  const Image pattern = Pattern(40, 50, 3, 1);
  const std::string plain = WriteTiff(dir / "p.tif", {.height = 40, .width = 50, .samples = 3,
                                                      .photometric = PHOTOMETRIC_RGB}, pattern.pixels);
  const std::string lzw = WriteTiff(dir / "l.tif", {.height = 40, .width = 50, .samples = 3,
                                                    .photometric = PHOTOMETRIC_RGB, .compression = COMPRESSION_LZW,
                                                    .tile = 16}, pattern.pixels);
  ::testing::internal::CaptureStderr();
  Image image;
  for (const std::string* file : {&plain, &lzw})
    for (size_t keep : {size_t(4), size_t(8), size_t(100), file->size() / 2, file->size() - 10}) {
      const absl::Status s = Decode(file->substr(0, keep), &image);
      EXPECT_FALSE(s.ok()) << keep;
      EXPECT_TRUE(absl::StartsWith(s.message(), "tiff: ")) << s;
      EXPECT_NE(s.message(), "tiff: not a readable TIFF");  // libtiff's own reason, not the fallback
      EXPECT_EQ(s.message().find('\n'), absl::string_view::npos) << s;
    }
  Rng rng(7);
  int failures = 0;
  for (int i = 0; i < 300; ++i) {
    std::string bytes = i % 2 ? plain : lzw;
    if (i % 3 == 0) {
      for (int k = 0; k < 1 + int(rng.Below(20)); ++k) bytes[rng.Below(bytes.size())] = char(rng.NextU32());
    } else if (i % 3 == 1) {
      const size_t at = rng.Below(bytes.size()), n = std::min<size_t>(rng.Below(400), bytes.size() - at);
      std::fill(bytes.begin() + long(at), bytes.begin() + long(at + n), '\0');
    } else {
      bytes.resize(rng.Below(bytes.size()));
    }
    if (!Decode(bytes, &image).ok()) {
      ++failures;
      continue;
    }
    EXPECT_EQ(image.pixels.size(), size_t(image.height) * image.width * image.channels);
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_GT(failures, 50);
  EXPECT_TRUE(Decode(plain, &image).ok());  // and a good file still decodes
}

// Sets the value of `tag` (a LONG or SHORT entry of the first directory) in a little-endian classic TIFF.
std::string WithTag(std::string bytes, uint16_t tag, uint32_t value) {
  const auto u16 = [&](size_t at) { return uint16_t(uint8_t(bytes[at]) | uint8_t(bytes[at + 1]) << 8); };
  const auto u32 = [&](size_t at) { return uint32_t(u16(at)) | uint32_t(u16(at + 2)) << 16; };
  const size_t ifd = u32(4);
  for (size_t i = 0, at = ifd + 2; i < u16(ifd); ++i, at += 12)
    if (u16(at) == tag) {
      if (u16(at + 2) == 3 && value > 0xffff) bytes[at + 2] = 4;  // SHORT -> LONG
      for (int k = 0; k < 4; ++k) bytes[at + 8 + size_t(k)] = char(value >> (8 * k));
      return bytes;
    }
  ADD_FAILURE() << "no tag " << tag;
  return bytes;
}

// A damaged header that names strips or tiles much larger than the page (found by tests/fuzz's tiff target:
// a 39 GB buffer for a 1x16 page) is refused before any buffer is sized from it.
TEST(TiffDecode, StripsAndTilesLargerThanThePageAreRefused) {
  TempDir dir;
  const Image pattern = Pattern(40, 50, 1, 3);
  const std::string strips = WriteTiff(dir / "s.tif", {.height = 40, .width = 50}, pattern.pixels);
  const std::string tiles = WriteTiff(dir / "t.tif", {.height = 40, .width = 50, .tile = 16}, pattern.pixels);
  Image image;
  ASSERT_TRUE(Decode(WithTag(strips, TIFFTAG_ROWSPERSTRIP, 40), &image).ok());  // one strip: the whole page
  ASSERT_TRUE(Decode(WithTag(strips, TIFFTAG_ROWSPERSTRIP, 0x61000110), &image).ok());  // as many rows as there are
  EXPECT_EQ(image.pixels, pattern.pixels);
  // tests/fuzz's tiff finding: dimensions 4294901784 x 4245684736 whose pixel count overflowed int64 (UBSan).
  const std::string overflow(
      "\x49\x49\x2a\x00\x08\x00\x00\x00\x09\x00\x00\x01\x04\x00\x01\x00\x00\x00\x18\x00\xff\xff\x01\x01"
      "\x04\x00\x01\x00\x00\x00\x00\x02\x10\xfd\xff\x01\x03\x00\x01\x00\x00\x00\x08\x00\x00\x00\x03\x01"
      "\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x06\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x11\x01"
      "\x04\x00\x01\x00\x00\x00\x7a\x00\x04\x00\x01\x00\x00\xbe\xbf\xc0\xc1\xc2\x00\xff\xff\xff\xff\x00"
      "\x00\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\x72\x73\x74\x75\x76\x77\x88\xc6\x85\x84\x83\x82\x81\x7e",
      120);
  const absl::Status huge = Decode(overflow, &image);
  EXPECT_TRUE(absl::StrContains(huge.message(), "4294901784x4245684736 is too large")) << huge;
  for (const auto& [bytes, tag] : {std::pair{&tiles, TIFFTAG_TILEWIDTH}, std::pair{&tiles, TIFFTAG_TILELENGTH}}) {
    const absl::Status s = Decode(WithTag(*bytes, uint16_t(tag), 0x61000110), &image);
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(absl::StrContains(s.message(), "bad tile size")) << s;
  }
}

// `vfm shard`'s converter: .tif files are stored raw (their decoded 8-bit pixels), the modality's statistics
// are over those pixels (and `vfm stats` recomputes the same), a damaged one is rejected naming the file.
TEST(TiffConvert, FolderOfTiffsShardsAsRawPixels) {
  TempDir dir;
  std::vector<uint16_t> values(12 * 10);
  for (size_t i = 0; i < values.size(); ++i) values[i] = uint16_t(i * 547);
  const TiffSpec gray16{.height = 12, .width = 10, .bits = 16, .compression = COMPRESSION_LZW};
  const std::string scan = WriteTiff(dir / "in/oct/scan.tif", gray16, Bytes16(values));
  const Image photo = Pattern(14, 9, 3, 3);
  WriteTiff(dir / "in/fundus/photo.TIFF",
            {.height = 14, .width = 9, .samples = 3, .photometric = PHOTOMETRIC_RGB, .tile = 16}, photo.pixels);
  testing::WriteFile(dir / "in/oct/cut.tif", scan.substr(0, scan.size() / 2));
  ConvertOptions options;
  options.output = dir / "ds";
  options.threads = 2;
  auto report = ConvertFolder(dir / "in", options);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->rejected.size(), 1u);
  EXPECT_EQ(report->rejected[0].input, dir / "in/oct/cut.tif");
  EXPECT_TRUE(absl::StartsWith(report->rejected[0].reason, "tiff: ")) << report->rejected[0].reason;

  auto ds = Dataset::Open(dir / "ds");
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ((*ds)->size(), 2);
  std::map<std::string, std::vector<uint8_t>> stored;
  for (int64_t id = 0; id < 2; ++id) {
    const SampleMeta m = (*ds)->meta(id);
    EXPECT_EQ(m.codec, Codec::kRaw);
    ASSERT_TRUE((*ds)->Read(id, &stored[(*ds)->index().modalities[m.modality]]).ok());
  }
  EXPECT_EQ(stored["fundus"], photo.pixels);
  ASSERT_EQ(stored["oct"].size(), values.size());
  double sum = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(stored["oct"][i], Rule(values[i])) << i;
    sum += stored["oct"][i] / 255.0;
  }
  const ModalityStats oct = report->index.modality_stats.at("oct");
  EXPECT_NEAR(oct.mean[0], sum / double(values.size()), 1e-12);
  EXPECT_EQ(oct.mean[1], oct.mean[0]);  // gray counts in R, G and B
  auto recomputed = ComputeModalityStats(**ds, 2);
  ASSERT_TRUE(recomputed.ok()) << recomputed.status();
  for (const std::string m : {"fundus", "oct"}) {
    EXPECT_EQ(recomputed->at(m).mean, report->index.modality_stats.at(m).mean) << m;
    EXPECT_EQ(recomputed->at(m).std, report->index.modality_stats.at(m).std) << m;
  }
}

}  // namespace
}  // namespace vfm::data

// The input layouts real datasets come in (data/convert.h), each with files the test writes: a folder per
// modality with class subfolders (--folder_labels), CSV lists with RFC 4180 quoting, CRLF line ends and
// paths relative to the CSV's folder, and 16-bit gray PNGs (OCT scanners) stored as they are and decoded
// with the rule round(v * 255 / 65535).
#include <filesystem>
#include <map>

#include "data/convert.h"
#include "data/dataset.h"
#include "data/decode.h"
#include "gtest/gtest.h"
#include "tests/data/fixtures.h"

namespace vfm::data {
namespace {
using testing::EncodeJpeg;
using testing::EncodePng;
using testing::Pattern;
using testing::TempDir;
using testing::WriteFile;

ConvertOptions Options(const std::string& output) {
  ConvertOptions o;
  o.output = output;
  o.threads = 2;
  return o;
}

// source path -> (modality name, label, subject) of every sample.
std::map<std::string, std::tuple<std::string, int, std::string>> Samples(const std::string& folder) {
  auto ds = Dataset::Open(folder);
  EXPECT_TRUE(ds.ok()) << ds.status();
  std::map<std::string, std::tuple<std::string, int, std::string>> out;
  if (!ds.ok()) return out;
  for (int64_t id = 0; id < (*ds)->size(); ++id) {
    const SampleMeta m = (*ds)->meta(id);
    out[std::filesystem::path(m.source).filename().string()] = {(*ds)->index().modalities[m.modality], m.label, m.subject};
  }
  return out;
}

TEST(InputLayouts, FolderPerModalityWithClassSubfolders) {
  TempDir dir;
  const std::string in = dir / "in";
  WriteFile(in + "/fundus/dr/a.jpg", EncodeJpeg(Pattern(16, 16, 3, 1)));
  WriteFile(in + "/fundus/normal/b.jpg", EncodeJpeg(Pattern(16, 16, 3, 2)));
  WriteFile(in + "/oct/amd/c.png", EncodePng(Pattern(16, 16, 1, 3)));
  WriteFile(in + "/oct/normal/d.png", EncodePng(Pattern(16, 16, 1, 4)));
  ConvertOptions o = Options(dir / "ds");
  o.folder_labels = true;
  auto report = ConvertFolder(in, o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->index.labels, (std::vector<std::string>{"amd", "dr", "normal"}));  // one class list, sorted
  EXPECT_EQ(report->index.modalities, (std::vector<std::string>{"fundus", "oct"}));
  const auto samples = Samples(dir / "ds");
  EXPECT_EQ(std::get<0>(samples.at("a.jpg")), "fundus");
  EXPECT_EQ(std::get<1>(samples.at("a.jpg")), 1);
  EXPECT_EQ(std::get<1>(samples.at("b.jpg")), 2);
  EXPECT_EQ(std::get<0>(samples.at("c.png")), "oct");
  EXPECT_EQ(std::get<1>(samples.at("c.png")), 0);
  EXPECT_EQ(std::get<1>(samples.at("d.png")), 2);
  ASSERT_EQ(report->index.modality_stats.size(), 2u);  // statistics for both
}

TEST(InputLayouts, CsvWithRfc4180QuotingCrlfAndRelativePaths) {
  TempDir dir;
  WriteFile(dir / "lists/img/a, left.jpg", EncodeJpeg(Pattern(16, 16, 3, 1)));
  WriteFile(dir / "lists/img/say \"hi\".png", EncodePng(Pattern(16, 16, 1, 2)));
  WriteFile(dir / "lists/img/plain.png", EncodePng(Pattern(16, 16, 3, 3)));
  WriteFile(dir / "lists/img/multi\nline.png", EncodePng(Pattern(16, 16, 3, 4)));
  WriteFile(dir / "lists/list.csv",
            "\xEF\xBB\xBFpath,modality,label,subject\r\n"
            "\"img/a, left.jpg\",fundus,1,\"Doe, Jane\"\r\n"
            "\"img/say \"\"hi\"\".png\",\"oct\",,\"  p2  \"\r\n"
            "  img/plain.png , fundus , 0 , p3 \r\n"
            "\r\n"
            "\"img/multi\nline.png\",oct,2,p4\r\n"
            "\"img/x.png\"junk,oct\r\n"
            "img/plain.png,fundus,3,p6\r\n"
            "img/plain.png,oct,0,p5");  // no line end at the end
  auto report = ConvertCsv(dir / "lists/list.csv", Options(dir / "ds"));
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->rejected.size(), 1u);
  EXPECT_EQ(report->rejected[0].input, dir / "lists/list.csv:8");  // line numbers count the quoted line break
  EXPECT_EQ(report->rejected[0].reason, "text after a quoted field's closing quote");
  EXPECT_EQ(report->index.samples, 6);
  const auto samples = Samples(dir / "ds");
  EXPECT_EQ(samples.at("a, left.jpg"), std::make_tuple(std::string("fundus"), 1, std::string("Doe, Jane")));
  EXPECT_EQ(samples.at("say \"hi\".png"), std::make_tuple(std::string("oct"), -1, std::string("  p2  ")));
  EXPECT_EQ(samples.at("multi\nline.png"), std::make_tuple(std::string("oct"), 2, std::string("p4")));
  EXPECT_EQ(samples.at("plain.png"), std::make_tuple(std::string("oct"), 0, std::string("p5")));  // the last row naming it

  WriteFile(dir / "lists/open.csv", "img/plain.png,fundus\n\"img/plain.png,fundus\n");
  report = ConvertCsv(dir / "lists/open.csv", Options(dir / "ds-open"));
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->rejected.size(), 1u);
  EXPECT_EQ(report->rejected[0].input, dir / "lists/open.csv:2");
  EXPECT_EQ(report->rejected[0].reason, "a quoted field has no closing quote");
}

TEST(InputLayouts, SixteenBitGrayPngIsStoredAsIsAndDecodedByTheRule) {
  TempDir dir;
  std::vector<uint16_t> values;
  for (int i = 0; i < 64; ++i) values.push_back(uint16_t(i * 1040 + (i % 3)));  // 0 .. 65523, odd steps
  values.back() = 65535;
  values[1] = 128;  // 128 * 255 / 65535 = 0.498: rounds to 0
  values[2] = 129;  // 0.502: rounds to 1
  const std::string png = testing::EncodePng16(8, 8, values);
  WriteFile(dir / "in/oct/scan.png", png);
  auto report = ConvertFolder(dir / "in", Options(dir / "ds"));
  ASSERT_TRUE(report.ok()) << report.status();
  auto ds = Dataset::Open(dir / "ds");
  ASSERT_TRUE(ds.ok()) << ds.status();
  std::vector<uint8_t> bytes;
  ASSERT_TRUE((*ds)->Read(0, &bytes).ok());
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), png);  // stored as given: 16 bits kept in the shard
  EXPECT_EQ((*ds)->channels(0), 1);
  Image image;
  ASSERT_TRUE(DecodeImage(bytes.data(), bytes.size(), Codec::kPng, {}, 1, &image).ok());
  ASSERT_EQ(image.pixels.size(), values.size());
  double sum = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(image.pixels[i], std::lround(values[i] * 255.0 / 65535.0)) << values[i];
    sum += image.pixels[i] / 255.0;
  }
  EXPECT_EQ(image.pixels[1], 0);
  EXPECT_EQ(image.pixels[2], 1);
  EXPECT_EQ(image.pixels[63], 255);
  // The statistics are over the 8-bit pixels of that rule.
  EXPECT_NEAR(report->index.modality_stats.at("oct").mean[0], sum / 64, 1e-12);
}

}  // namespace
}  // namespace vfm::data

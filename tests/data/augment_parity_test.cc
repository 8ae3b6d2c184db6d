// Each augmentation step against torchvision 0.14 (Debian's python3-torchvision) on PIL images, with the
// same parameters on the same pixels: resampling within 1.5 grey levels mean absolute difference (Pillow
// rounds its fixed-point filter differently; we measure about 0.1), blur within 1 (float summation order),
// flips, solarize, grayscale and the colour-jitter ops bit-exact; then whole views drawn by DrawView
// replayed step by step in torchvision; and PIL's JPEG decode against ours. Inputs: skimage's retina.jpg
// (a real fundus photo, decoded once here and handed to Python as PNG so both sides start from the same
// pixels) and the gray microaneurysms.png.
#include <cmath>
#include <fstream>

#include "data/augment.h"
#include "data/decode.h"
#include "data/loader.h"
#include "data/resize.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/data/fixtures.h"

namespace vfm::data {
namespace {
using nlohmann::json;
using testing::ReadFile;
using testing::SkimageFile;
using testing::TempDir;

Image DecodeFile(const std::string& path, Codec codec) {
  const std::string bytes = ReadFile(path);
  Image image;
  if (!DecodeImage(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), codec, {}, 1, &image).ok())
    throw std::runtime_error("cannot decode " + path);
  return image;
}

// One C++ result to compare with torchvision running `ops` on `input`.
struct Case {
  std::string name;
  Image ours;
  json ops;
  double tolerance;  // max mean absolute difference; 0 = exact
  std::string input = "rgb.png";
};

class AugmentParity : public ::testing::Test {
 protected:
  void SetUp() override {
    rgb_ = DecodeFile(SkimageFile("retina.jpg"), Codec::kJpeg);
    gray_ = DecodeFile(SkimageFile("microaneurysms.png"), Codec::kPng);
    testing::WriteFile(dir_ / "rgb.png", testing::EncodePng(rgb_));
    testing::WriteFile(dir_ / "gray.png", testing::EncodePng(gray_));
  }

  // Runs torchvision on every case and compares.
  void Check(const std::vector<Case>& cases) {
    json list = json::array();
    for (size_t i = 0; i < cases.size(); ++i)
      list.push_back({{"input", cases[i].input.front() == '/' ? cases[i].input : dir_ / cases[i].input},
                      {"output", dir_ / ("out" + std::to_string(i))},
                      {"ops", cases[i].ops}});
    testing::WriteFile(dir_ / "cases.json", list.dump());
    std::string output;
    const std::string script = ReadFile(std::string(VFM_SOURCE_DIR) + "/tests/data/torchvision_ops.py");
    ASSERT_EQ(testing::RunPython(script, {dir_ / "cases.json"}, &output), 0) << output;
    for (size_t i = 0; i < cases.size(); ++i) {
      const std::string theirs = ReadFile(dir_ / ("out" + std::to_string(i)));
      const Image& ours = cases[i].ours;
      ASSERT_EQ(theirs.size(), ours.pixels.size()) << cases[i].name;
      double sum = 0;
      int max_diff = 0;
      for (size_t k = 0; k < theirs.size(); ++k) {
        const int d = std::abs(int(uint8_t(theirs[k])) - int(ours.pixels[k]));
        sum += d;
        max_diff = std::max(max_diff, d);
      }
      const double mad = sum / double(theirs.size());
      std::printf("%-40s mean |diff| %.4f  max %d\n", cases[i].name.c_str(), mad, max_diff);
      if (cases[i].tolerance == 0)
        EXPECT_EQ(max_diff, 0) << cases[i].name;
      else
        EXPECT_LT(mad, cases[i].tolerance) << cases[i].name;
    }
  }

  Image Crop(const Image& src, int top, int left, int h, int w, int size) {
    Image out;
    ResizeBox(src, float(top), float(left), float(h), float(w), size, size, &out);
    return out;
  }

  TempDir dir_;
  Image rgb_, gray_;
};

TEST_F(AugmentParity, SingleStepsMatchTorchvision) {
  std::vector<Case> cases;
  auto add = [&](std::string name, Image ours, json ops, double tol, std::string input = "rgb.png") {
    cases.push_back({std::move(name), std::move(ours), std::move(ops), tol, std::move(input)});
  };
  // Decoding: PIL (Debian's, on libjpeg-turbo) and TurboJPEG give the same pixels for the same file.
  add("decode retina.jpg", rgb_, json::array(), 0, SkimageFile("retina.jpg"));
  // Resampling: strong downscale, mild downscale, upscale, non-square box, gray.
  add("resized_crop 1411->224", Crop(rgb_, 0, 0, 1411, 1411, 224), json::array({{"resized_crop", 0, 0, 1411, 1411, 224}}), 1.5);
  add("resized_crop 700x500->224", Crop(rgb_, 300, 411, 700, 500, 224), json::array({{"resized_crop", 300, 411, 700, 500, 224}}), 1.5);
  add("resized_crop 60x50->96 (upscale)", Crop(rgb_, 650, 700, 60, 50, 96), json::array({{"resized_crop", 650, 700, 60, 50, 96}}), 1.5);
  add("resized_crop gray 80x70->64", Crop(gray_, 10, 20, 80, 70, 64), json::array({{"resized_crop", 10, 20, 80, 70, 64}}), 1.5, "gray.png");
  // Single steps start from the same pixels on both sides: our 224 crop, handed over as PNG.
  const Image base = Crop(rgb_, 200, 150, 1000, 1100, 224);
  testing::WriteFile(dir_ / "base.png", testing::EncodePng(base));
  auto step = [&](std::string name, auto apply, json op, double tol) {
    Image img = base;
    apply(&img);
    add(name, img, json::array({op}), tol, "base.png");
  };
  step("hflip", [](Image* i) { FlipHorizontal(i); }, {"hflip"}, 0);
  step("solarize 128", [](Image* i) { Solarize(i, 128); }, {"solarize", 128}, 0);
  step("brightness 1.35", [](Image* i) { AdjustBrightness(i, 1.35f); }, {"brightness", 1.35f}, 0);
  step("brightness 0.65", [](Image* i) { AdjustBrightness(i, 0.65f); }, {"brightness", 0.65f}, 0);
  step("contrast 1.4", [](Image* i) { AdjustContrast(i, 1.4f); }, {"contrast", 1.4f}, 0);
  step("contrast 0.6", [](Image* i) { AdjustContrast(i, 0.6f); }, {"contrast", 0.6f}, 0);
  step("saturation 1.2", [](Image* i) { AdjustSaturation(i, 1.2f); }, {"saturation", 1.2f}, 0);
  step("saturation 0.8", [](Image* i) { AdjustSaturation(i, 0.8f); }, {"saturation", 0.8f}, 0);
  step("hue +0.08", [](Image* i) { AdjustHue(i, 0.08f); }, {"hue", 0.08f}, 0);
  step("hue -0.1", [](Image* i) { AdjustHue(i, -0.1f); }, {"hue", -0.1f}, 0);
  step("grayscale", [](Image* i) { ToGrayscale(i); }, {"gray"}, 0);
  step("gaussian blur k9 sigma 1.3", [](Image* i) { GaussianBlur(i, 9, 1.3f); }, {"blur", 9, 1.3f}, 1.0);
  step("gaussian blur k9 sigma 0.4", [](Image* i) { GaussianBlur(i, 9, 0.4f); }, {"blur", 9, 0.4f}, 1.0);
  // The evaluation view: Resize(shorter side) + CenterCrop, on a non-square crop of the retina and on gray.
  Image wide;  // rows 300..1099 of the retina: 800 x 1411
  wide.Resize(800, rgb_.width, 3);
  std::copy(rgb_.row(300), rgb_.row(1100), wide.pixels.begin());
  testing::WriteFile(dir_ / "wide.png", testing::EncodePng(wide));
  Image eval_rgb, eval_gray;
  RenderCenterView(wide, wide.height, wide.width, 256, 224, &eval_rgb);
  add("eval resize 256 + center crop 224", eval_rgb, json::array({{"resize", 256}, {"center_crop", 224}}), 1.5,
      "wide.png");
  RenderCenterView(gray_, gray_.height, gray_.width, 73, 64, &eval_gray);
  add("eval gray resize 73 + center crop 64", eval_gray, json::array({{"resize", 73}, {"center_crop", 64}}), 1.5,
      "gray.png");
  Image gray_contrast = gray_;
  AdjustContrast(&gray_contrast, 1.3f);
  add("gray contrast 1.3", gray_contrast, json::array({{"contrast", 1.3f}}), 0, "gray.png");
  Check(cases);
}

// Whole views as DrawView draws them (iBOT's global crop 2: blur 0.1, solarize 0.2; and local crops).
TEST_F(AugmentParity, DrawnViewsMatchTorchvisionReplay) {
  std::vector<Case> cases;
  for (int i = 0; i < 12; ++i) {
    ViewOptions o;
    o.size = i < 6 ? 224 : 96;
    if (i >= 6) o.scale_min = 0.05f, o.scale_max = 0.32f;
    o.blur_p = 0.5f;
    o.solarize_p = 0.3f;
    o.gray_p = 0.3f;
    Rng rng(MixKey({7, uint64_t(i)}));
    const ViewParams v = DrawView(rng, rgb_.height, rgb_.width, o);
    Image ours;
    RenderView(rgb_, rgb_.height, rgb_.width, v, &ours);
    json ops = json::array({{"resized_crop", v.top, v.left, v.height, v.width, v.size}});
    if (v.flip) ops.push_back({"hflip"});
    if (v.jitter) {
      for (int s : v.jitter_order) {
        if (s == 0) ops.push_back({"brightness", v.brightness});
        if (s == 1) ops.push_back({"contrast", v.contrast});
        if (s == 2) ops.push_back({"saturation", v.saturation});
        if (s == 3) ops.push_back({"hue", v.hue});
      }
    }
    if (v.gray) ops.push_back({"gray"});
    if (v.blur) ops.push_back({"blur", v.blur_kernel, v.blur_sigma});
    if (v.solarize) ops.push_back({"solarize", v.solarize_threshold});
    cases.push_back({"view " + std::to_string(i) + " " + ops.dump(), std::move(ours), ops, 1.5});
  }
  Check(cases);
}

}  // namespace
}  // namespace vfm::data

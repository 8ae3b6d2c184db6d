// Small image and dataset fixtures for the data tests, built in a fresh temporary folder per test.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace vfm::data::testing {

// A fresh empty folder under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A smooth test pattern with some texture: deterministic for (h, w, channels, seed).
Image Pattern(int height, int width, int channels, int seed = 0);
std::string EncodeJpeg(const Image& image, int quality = 90);
std::string EncodePng(const Image& image);
// A 16-bit grayscale PNG of `values` (height * width, row-major).
std::string EncodePng16(int height, int width, const std::vector<uint16_t>& values);

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& bytes);

// skimage's sample images installed by Debian's python3-skimage-lib.
inline constexpr const char* kSkimageData = "/usr/lib/python3/dist-packages/skimage/data";
inline std::string SkimageFile(const std::string& name) { return std::string(kSkimageData) + "/" + name; }

// Runs `script` (Python source) with VFM_PYTHON and extra args; returns its exit status, output in `out`.
int RunPython(const std::string& script, const std::vector<std::string>& args, std::string* out);

}  // namespace vfm::data::testing

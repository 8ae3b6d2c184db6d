// Small image and dataset fixtures for the data tests, built in a fresh temporary folder per test.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/shard_format.h"

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

// `count` small samples cycling through an RGB JPEG of modality 0 ("fundus"), a gray PNG of modality 1
// ("oct") and a raw gray image of modality 0; labels cycle 0, 1, 2 (class names "a", "b", "c"); sources
// "sample-I.EXT", subjects "patient-I/2" (every third one empty).
struct Sample {
  SampleMeta meta;
  std::string bytes;
};
std::vector<Sample> MixedSamples(int count);
// Writes them as a dataset folder (DatasetWriter) in shards of about `shard_bytes`.
void WriteDataset(const std::string& folder, const std::vector<Sample>& samples, int64_t shard_bytes = 1 << 20);

// Damages the sample whose encoded bytes are `sample_bytes` in its shard file (found by searching the
// folder's shards for them), so that reading it fails its crc32c while everything else stays intact.
void CorruptSampleBytes(const std::string& folder, const std::vector<uint8_t>& sample_bytes);

// Runs `script` (Python source) with VFM_PYTHON and extra args; returns its exit status, output in `out`.
int RunPython(const std::string& script, const std::vector<std::string>& args, std::string* out);

}  // namespace vfm::data::testing

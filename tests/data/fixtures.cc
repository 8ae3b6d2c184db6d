#include "tests/data/fixtures.h"

#include <png.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "data/shard_writer.h"

namespace vfm::data::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base ? base : "/tmp") + "/vfm-data-test-XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}
TempDir::~TempDir() { std::filesystem::remove_all(path_); }

Image Pattern(int height, int width, int channels, int seed) {
  Image image;
  image.Resize(height, width, channels);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        double v = 128 + 60 * std::sin(0.05 * x * (c + 1) + seed) * std::cos(0.07 * y + c) +
                   40 * std::sin(0.9 * (x + 2 * y) + seed * 0.3);
        image.row(y)[x * channels + c] = uint8_t(std::lround(std::fmin(255, std::fmax(0, v))));
      }
  return image;
}

std::string EncodeJpeg(const Image& image, int quality) {
  tjhandle tj = tjInitCompress();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  const bool gray = image.channels == 1;
  if (tjCompress2(tj, image.pixels.data(), image.width, 0, image.height, gray ? TJPF_GRAY : TJPF_RGB, &buffer,
                  &size, gray ? TJSAMP_GRAY : TJSAMP_420, quality, 0) != 0)
    throw std::runtime_error(tjGetErrorStr2(tj));
  std::string out(reinterpret_cast<char*>(buffer), size);
  tjFree(buffer);
  tjDestroy(tj);
  return out;
}

namespace {
std::string WritePng(png_image& spec, const void* pixels) {
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&spec, nullptr, &size, 0, pixels, 0, nullptr))
    throw std::runtime_error(spec.message);
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&spec, out.data(), &size, 0, pixels, 0, nullptr))
    throw std::runtime_error(spec.message);
  out.resize(size);
  return out;
}
}  // namespace

std::string EncodePng(const Image& image) {
  png_image spec{};
  spec.version = PNG_IMAGE_VERSION;
  spec.width = uint32_t(image.width);
  spec.height = uint32_t(image.height);
  spec.format = image.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  return WritePng(spec, image.pixels.data());
}

std::string EncodePng16(int height, int width, const std::vector<uint16_t>& values) {
  png_image spec{};
  spec.version = PNG_IMAGE_VERSION;
  spec.width = uint32_t(width);
  spec.height = uint32_t(height);
  spec.format = PNG_FORMAT_LINEAR_Y;
  return WritePng(spec, values.data());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

std::vector<Sample> MixedSamples(int count) {
  std::vector<Sample> samples;
  for (int i = 0; i < count; ++i) {
    Sample s;
    const int kind = i % 3;
    const Image image = Pattern(12 + i, 10 + 2 * i, kind == 0 ? 3 : 1, i);
    s.bytes = kind == 0 ? EncodeJpeg(image) : kind == 1 ? EncodePng(image)
                                                         : std::string(image.pixels.begin(), image.pixels.end());
    s.meta.codec = kind == 0 ? Codec::kJpeg : kind == 1 ? Codec::kPng : Codec::kRaw;
    s.meta.modality = kind == 1 ? 1 : 0;
    s.meta.label = i % 3;
    s.meta.height = uint32_t(image.height);
    s.meta.width = uint32_t(image.width);
    s.meta.channels = uint8_t(image.channels);
    s.meta.source = "sample-" + std::to_string(i) + (kind == 0 ? ".jpg" : kind == 1 ? ".png" : ".raw");
    s.meta.subject = i % 3 == 2 ? "" : "patient-" + std::to_string(i / 2);
    samples.push_back(std::move(s));
  }
  return samples;
}

void WriteDataset(const std::string& folder, const std::vector<Sample>& samples, int64_t shard_bytes) {
  std::filesystem::create_directories(folder);
  DatasetWriter writer(folder, {"fundus", "oct"}, {"a", "b", "c"}, shard_bytes);
  for (const Sample& s : samples)
    if (!writer.Add(s.meta, s.bytes).ok()) throw std::runtime_error("cannot add a sample");
  if (!writer.Finish().ok()) throw std::runtime_error("cannot write " + folder);
}

void CorruptSampleBytes(const std::string& folder, const std::vector<uint8_t>& sample_bytes) {
  const std::string needle(sample_bytes.begin(), sample_bytes.end());
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() != ".h5") continue;
    std::string shard = ReadFile(entry.path().string());
    const size_t at = shard.find(needle);
    if (at == std::string::npos) continue;
    shard[at + needle.size() / 2] ^= 0x77;
    WriteFile(entry.path().string(), shard);
    return;
  }
  throw std::runtime_error("sample bytes not found in " + folder);
}

int RunPython(const std::string& script, const std::vector<std::string>& args, std::string* out) {
  TempDir dir;
  WriteFile(dir / "script.py", script);
  std::string command = std::string(VFM_PYTHON) + " " + dir / "script.py";
  for (const std::string& a : args) command += " '" + a + "'";
  command += " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return -1;
  char buffer[4096];
  out->clear();
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out->append(buffer, n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace vfm::data::testing

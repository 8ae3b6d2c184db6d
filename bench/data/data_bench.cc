// bench_data: images/s per core of the multi-crop pipeline (decode + 2 x 224 global + 10 x 96 local crops
// with the full iBOT augmentation + normalisation to float + blockwise masks) on (a) skimage's retina.jpg
// (1411x1411), (b) a 4000x3000 JPEG upscaled from it, (c) a 512x496 gray OCT-sized PNG, beside torchvision
// 0.14 + PIL doing the same pipeline in the same run (bench/data/torchvision_pipeline.py, one thread each);
// then the read rate from shards (pread + crc32c, page cache warm) with 1 and 2 threads, and the whole
// Loader's images/s with 1 and 2 threads.
// Usage: bench_data [--seconds=S] [--local_crops=N]   (prints a Markdown report)
#include <png.h>
#include <turbojpeg.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/decode.h"
#include "data/loader.h"
#include "data/multicrop.h"
#include "data/resize.h"
#include "data/shard_writer.h"

namespace vfm::data {
namespace {
using Clock = std::chrono::steady_clock;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

Image Decode(const std::string& bytes, Codec codec) {
  Image image;
  if (!DecodeImage(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), codec, {}, 1, &image).ok()) std::abort();
  return image;
}

std::string EncodeJpeg(const Image& image, int quality) {
  tjhandle tj = tjInitCompress();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  tjCompress2(tj, image.pixels.data(), image.width, 0, image.height, TJPF_RGB, &buffer, &size, TJSAMP_420, quality, 0);
  std::string out(reinterpret_cast<char*>(buffer), size);
  tjFree(buffer);
  tjDestroy(tj);
  return out;
}

std::string EncodeGrayPng(const Image& image) {
  png_image spec{};
  spec.version = PNG_IMAGE_VERSION;
  spec.width = uint32_t(image.width);
  spec.height = uint32_t(image.height);
  spec.format = PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  png_image_write_to_memory(&spec, nullptr, &size, 0, image.pixels.data(), 0, nullptr);
  std::string out(size, '\0');
  png_image_write_to_memory(&spec, out.data(), &size, 0, image.pixels.data(), 0, nullptr);
  out.resize(size);
  return out;
}

// Our pipeline on one thread for `seconds`: images per second, and the JPEG scales it chose.
double OurRate(const std::string& bytes, Codec codec, double seconds, int local_crops, std::map<int, int>* scales) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  auto header = ProbeImage(data, bytes.size(), codec);
  MultiCropOptions options;
  options.local_crops = local_crops;
  SampleViews views;
  std::vector<float> out(3 * 224 * 224);
  const Normalization norm;
  int64_t n = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    if (!MakeViews(data, bytes.size(), codec, *header, MixKey({1, uint64_t(n)}), options, &views).ok()) std::abort();
    for (const Image& v : views.global) NormalizeToPlanar(v, norm.mean, norm.std, out.data());
    for (const Image& v : views.local) NormalizeToPlanar(v, norm.mean, norm.std, out.data());
    ++(*scales)[views.scale_denom];
    ++n;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return double(n) / elapsed;
}

std::map<std::string, double> TorchvisionRates(const std::vector<std::string>& files, double seconds, int local_crops) {
  std::string command = std::string(VFM_PYTHON) + " " + VFM_SOURCE_DIR + "/bench/data/torchvision_pipeline.py " +
                        std::to_string(seconds) + " " + std::to_string(local_crops);
  for (const std::string& f : files) command += " " + f;
  std::map<std::string, double> rates;
  FILE* pipe = popen(command.c_str(), "r");
  char path[4096];
  double rate;
  while (pipe && std::fscanf(pipe, "%4095s %lf", path, &rate) == 2) rates[path] = rate;
  if (!pipe || pclose(pipe) != 0 || rates.size() != files.size()) {
    std::fprintf(stderr, "bench_data: the torchvision baseline failed (%s)\n", command.c_str());
    std::exit(1);
  }
  return rates;
}

// Reads every sample of `dataset` with `threads` threads (ids interleaved); returns seconds.
double ReadAll(const Dataset& dataset, int threads) {
  std::atomic<int64_t> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      std::vector<uint8_t> bytes;
      for (int64_t id; (id = next++) < dataset.size();)
        if (!dataset.Read(id, &bytes).ok()) std::abort();
    });
  for (auto& t : pool) t.join();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int Main(int argc, char** argv) {
  double seconds = 5;
  int local_crops = 10;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--seconds=", 0) == 0) seconds = std::atof(a.c_str() + 10);
    if (a.rfind("--local_crops=", 0) == 0) local_crops = std::atoi(a.c_str() + 14);
  }
  const std::string dir = std::filesystem::temp_directory_path() / ("vfm-bench-data-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string skimage = "/usr/lib/python3/dist-packages/skimage/data/";
  const std::string retina = ReadFile(skimage + "retina.jpg");
  const Image retina_pixels = Decode(retina, Codec::kJpeg);
  Image big, oct;
  ResizeBox(retina_pixels, 0, 0, 1411, 1411, 3000, 4000, &big);
  const Image micro = Decode(ReadFile(skimage + "microaneurysms.png"), Codec::kPng);
  ResizeBox(micro, 0, 0, 102, 102, 496, 512, &oct);
  struct Input {
    std::string name, path, bytes;
    Codec codec;
  };
  std::vector<Input> inputs = {
      {"retina.jpg 1411x1411 RGB JPEG", dir + "/retina.jpg", retina, Codec::kJpeg},
      {"4000x3000 RGB JPEG (q90, upscaled retina)", dir + "/big.jpg", EncodeJpeg(big, 90), Codec::kJpeg},
      {"512x496 gray PNG (OCT-sized)", dir + "/oct.png", EncodeGrayPng(oct), Codec::kPng},
  };
  std::vector<std::string> paths;
  for (const Input& in : inputs) {
    WriteFile(in.path, in.bytes);
    paths.push_back(in.path);
  }
  std::printf("## Multi-crop pipeline, one core: decode + 2x224 + %dx96 crops (iBOT augmentation) + masks\n\n",
              local_crops);
  std::printf("%u hardware threads; %.0f s per measurement.\n\n", std::thread::hardware_concurrency(), seconds);
  std::printf("| input | vfm img/s | torchvision 0.14 + PIL img/s | ratio | vfm JPEG scales used |\n|---|---|---|---|---|\n");
  const std::map<std::string, double> theirs = TorchvisionRates(paths, seconds, local_crops);
  for (const Input& in : inputs) {
    std::map<int, int> scales;
    const double ours = OurRate(in.bytes, in.codec, seconds, local_crops, &scales);
    std::string used;
    for (auto [denom, count] : scales) used += "1/" + std::to_string(denom) + ": " + std::to_string(count) + " ";
    std::printf("| %s | %.1f | %.1f | %.2fx | %s|\n", in.name.c_str(), ours, theirs.at(in.path),
                ours / theirs.at(in.path), used.c_str());
  }

  // Shards: 400 copies of retina.jpg (about 108 MB), read back right after writing (page cache warm).
  const std::string folder = dir + "/ds";
  std::filesystem::create_directories(folder);
  DatasetWriter writer(folder, {"fundus"}, {}, 32 << 20);
  const int copies = 400;
  for (int i = 0; i < copies; ++i) {
    SampleMeta m;
    m.height = m.width = 1411;
    m.channels = 3;
    m.codec = Codec::kJpeg;
    m.source = "retina-" + std::to_string(i);
    if (!writer.Add(m, retina).ok()) std::abort();
  }
  if (!writer.Finish().ok()) std::abort();
  auto dataset = Dataset::Open(folder);
  if (!dataset.ok()) std::abort();
  const double megabytes = double(retina.size()) * copies / 1e6;
  std::printf("\n## Shard read rate (pread + crc32c per sample, %d samples, %.0f MB, page cache warm)\n\n", copies,
              megabytes);
  std::printf("| threads | MB/s | samples/s |\n|---|---|---|\n");
  for (int threads : {1, 2}) {
    double best = 1e9;
    for (int rep = 0; rep < 3; ++rep) best = std::min(best, ReadAll(**dataset, threads));
    std::printf("| %d | %.0f | %.0f |\n", threads, megabytes / best, copies / best);
  }

  // The whole loader (read + decode + augment + mask + batch) as the trainer sees it.
  std::printf("\n## Loader, same dataset: global batch 32, 2x224 + %dx96 crops, masks, uint8 output "
              "(crop-major, with the normalisation table)\n\n",
              local_crops);
  std::printf("| threads | img/s | batches measured |\n|---|---|---|\n");
  std::shared_ptr<const Dataset> shared(std::move(*dataset));
  for (int threads : {1, 2}) {
    LoaderOptions o;
    o.global_batch = 32;
    o.threads = threads;
    o.crops.local_crops = local_crops;
    auto loader = Loader::Create(shared, o);
    if (!loader.ok()) std::abort();
    auto next = [&] {
      absl::StatusOr<std::unique_ptr<Batch>> batch = (*loader)->Next();
      if (!batch.ok()) std::abort();
      return *std::move(batch);
    };
    (*loader)->Recycle(next());  // warm-up: fills the prefetch queue
    int batches = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    while (elapsed < seconds || batches < 2) {
      (*loader)->Recycle(next());
      ++batches;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    }
    std::printf("| %d | %.1f | %d |\n", threads, batches * 32 / elapsed, batches);
  }
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace vfm::data

int main(int argc, char** argv) { return vfm::data::Main(argc, argv); }

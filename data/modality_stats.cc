#include "data/modality_stats.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/decode.h"

namespace vfm::data {
namespace {

constexpr double kOne = 4503599627370496.0;  // 2^52: fixed-point 1

uint64_t Fixed(double value) { return uint64_t(std::llround(value * kOne)); }

}  // namespace

ImageMoments MomentsOf(const uint8_t* pixels, int64_t count, int channels) {
  std::array<uint64_t, 3> sum{}, sum_sq{};  // at most 2^28 pixels * 255^2: fits
  for (int64_t i = 0; i < count; ++i)
    for (int c = 0; c < channels; ++c) {
      const uint64_t v = pixels[i * channels + c];
      sum[size_t(c)] += v;
      sum_sq[size_t(c)] += v * v;
    }
  ImageMoments m;
  for (int c = 0; c < 3; ++c) {
    const int from = channels == 1 ? 0 : c;
    m.mean[size_t(c)] = Fixed(double(sum[size_t(from)]) / (double(count) * 255.0));
    m.mean_sq[size_t(c)] = Fixed(double(sum_sq[size_t(from)]) / (double(count) * 255.0 * 255.0));
  }
  return m;
}

void StatsAccumulator::Add(const ImageMoments& image) {
  ++images_;
  for (size_t c = 0; c < 3; ++c) {
    sum_[c] += image.mean[c];
    sum_sq_[c] += image.mean_sq[c];
  }
}

ModalityStats StatsAccumulator::Result() const {
  ModalityStats stats;
  stats.images = images_;
  for (size_t c = 0; c < 3; ++c) {
    const double mean = double(sum_[c]) / kOne / double(images_);
    const double mean_sq = double(sum_sq_[c]) / kOne / double(images_);
    stats.mean[c] = mean;
    stats.std[c] = std::sqrt(std::max(0.0, mean_sq - mean * mean));
  }
  return stats;
}

absl::StatusOr<std::map<std::string, ModalityStats>> ComputeModalityStats(
    const Dataset& dataset, int threads, const std::function<void(int64_t, int64_t)>& progress) {
  const std::vector<std::string>& names = dataset.index().modalities;
  std::vector<StatsAccumulator> per_modality(names.size());
  const int64_t total = dataset.size(), chunk = 256;
  std::vector<ImageMoments> moments(static_cast<size_t>(chunk));
  std::vector<absl::Status> errors(static_cast<size_t>(chunk));
  for (int64_t begin = 0; begin < total; begin += chunk) {
    const int64_t n = std::min(chunk, total - begin);
#pragma omp parallel for schedule(dynamic) num_threads(std::max(1, threads))
    for (int64_t i = 0; i < n; ++i) {
      const int64_t id = begin + i;
      thread_local std::vector<uint8_t> bytes;
      thread_local Image image;
      const ImageHeader shape{int(dataset.height(id)), int(dataset.width(id)), int(dataset.channels(id))};
      absl::Status s = dataset.Read(id, &bytes);
      if (s.ok()) s = DecodeImage(bytes.data(), bytes.size(), dataset.codec(id), shape, 1, &image);
      if (s.ok()) moments[size_t(i)] = MomentsOf(image.pixels.data(), int64_t(image.height) * image.width, image.channels);
      errors[size_t(i)] = s.ok() ? s : absl::DataLossError(absl::StrCat(dataset.Describe(id), ": ", s.message()));
    }
    for (int64_t i = 0; i < n; ++i) {
      if (!errors[size_t(i)].ok()) return errors[size_t(i)];
      per_modality[dataset.modality(begin + i)].Add(moments[size_t(i)]);
    }
    if (progress) progress(begin + n, total);
  }
  std::map<std::string, ModalityStats> out;
  for (size_t m = 0; m < names.size(); ++m)
    if (per_modality[m].images() > 0) out[names[m]] = per_modality[m].Result();
  return out;
}

}  // namespace vfm::data

// Per-modality channel mean and std (index.json's "modality_stats", DatasetIndex::modality_stats), the
// statistics `vfm pretrain --norm=dataset` normalises each modality with.
//
// How they are taken: over every pixel of each image at its full decoded size (JPEG without DCT scaling,
// 16-bit PNG after decode.h's round(v * 255 / 65535), IDX/raw as stored), in [0, 1] units (v / 255), gray
// images counting in all three channels, and each image weighted equally: mean = (1/N) sum_i mean_i and
// std = sqrt((1/N) sum_i E_i[x^2] - mean^2) over the modality's N images, real and synthetic alike. Equal
// weights because training draws images, not pixels (each becomes crops of the same size whatever its
// resolution): a pixel-weighted mean would let a modality's largest scans outvote its small ones.
//
// Exact and order-free: an image's sums are integers (exact); its mean_i and E_i[x^2] are rounded to
// multiples of 2^-52 and summed as 128-bit integers, so the result does not depend on the order images are
// added in (`vfm shard` adds them in input order, `vfm stats` in id order: the same figures, bit for bit).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "data/dataset.h"
#include "data/dataset_index.h"

namespace vfm::data {

// One image's first and second channel moments, as fixed-point multiples of 2^-52.
struct ImageMoments {
  std::array<uint64_t, 3> mean{}, mean_sq{};
};

// `pixels` interleaved 8-bit values of `count` pixels of `channels` (1 or 3) channels.
ImageMoments MomentsOf(const uint8_t* pixels, int64_t count, int channels);

// Sums images' moments, exactly (order-free).
class StatsAccumulator {
 public:
  void Add(const ImageMoments& image);
  int64_t images() const { return images_; }
  ModalityStats Result() const;  // needs images() >= 1

 private:
  int64_t images_ = 0;
  std::array<unsigned __int128, 3> sum_{}, sum_sq_{};
};

// Decodes every sample of `dataset` (full size, `threads` at a time) and returns its modalities' stats.
// An unreadable sample is an error naming it. `progress` (may be empty) gets (samples done, total).
absl::StatusOr<std::map<std::string, ModalityStats>> ComputeModalityStats(
    const Dataset& dataset, int threads, const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace vfm::data
